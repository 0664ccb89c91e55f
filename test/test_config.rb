# frozen_string_literal: true

require_relative "test_helper"
require "memwatch"

class TestConfig < Minitest::Test
  def teardown = Memwatch.stop

  def assert_rejected(pattern, **options)
    error = assert_raises(ArgumentError) { Memwatch.start(**options) }
    assert_match pattern, error.message
    refute Memwatch.running?, "a rejected start must not leave a sampler running"
  end

  def test_bad_options_raise_clear_messages
    assert_rejected(/interval must be a number of seconds from 0.01 to 3600 \(got 0\)/, interval: 0)
    assert_rejected(/interval must be .* \(got "fast"\)/, interval: "fast")
    assert_rejected(/unknown option :intervall .*known: interval/, intervall: 1)
    assert_rejected(/ring_size must be an integer from 10/, ring_size: 2)
    assert_rejected(/fork must be true or false/, fork: "yes")
    assert_rejected(/label must be 1-64 characters/, label: "worker 1/evil")
    assert_rejected(/log must be a directory, a file path, an IO, or nil/, log: 42)
    assert_rejected(/classifier must be a Hash with Symbol keys/, classifier: "fast")
    assert_rejected(/unknown classifier option\(s\): bogus/, classifier: { bogus: 1 })
  end

  def test_missing_log_directory_is_an_error_at_start
    assert_rejected(%r{log directory /nonexistent/memwatch/ does not exist}, log: "/nonexistent/memwatch/")
    assert_rejected(%r{log directory /nonexistent does not exist}, log: "/nonexistent/x.tsv")
  end

  def test_unwritable_log_is_an_error_at_start
    skip "root can write anywhere" if Process.uid.zero?
    Dir.mktmpdir do |dir|
      File.chmod(0o500, dir)
      assert_raises(Memwatch::Error) { Memwatch.start(log: dir) }
    end
  end

  def test_tick_cadences_follow_the_interval
    fast = Memwatch::Config.new(env: {}, interval: 0.1, verdict_interval: 15)
    assert_equal [5, 10, 100, 100], [fast.gc_ticks, fast.status_ticks, fast.pss_ticks, fast.meminfo_ticks]
    assert_equal 30, fast.periodic_every, "counted in memwatch-gc wake-ups (every 0.5 s)"
    slow = Memwatch::Config.new(env: {}, interval: 2.0, verdict_interval: 15)
    assert_equal [1, 1], [slow.gc_ticks, slow.status_ticks]
    assert_equal 2, Memwatch::Config.new(env: {}, interval: 0.1, gc_every: 2).gc_ticks
    assert_equal 3, Memwatch::Config.new(env: { "MEMWATCH_GC_EVERY" => "3" }).gc_ticks
    assert_raises(ArgumentError) { Memwatch::Config.new(env: {}, gc_every: 0) }
  end

  def test_environment_variables
    config = Memwatch::Config.new(env: { "MEMWATCH_INTERVAL" => "0.5", "MEMWATCH_FORK" => "off",
                                         "MEMWATCH_LOG" => "/tmp", "MEMWATCH_RING_SIZE" => "100" })
    assert_equal 0.5, config[:interval]
    assert_equal false, config[:fork]
    assert_equal "/tmp", config[:log]
    assert_equal 100, config[:ring_size]
    assert_equal({ suspect_window: 60, z: 2.5 },
                 Memwatch::Config.new(env: { "MEMWATCH_CLASSIFIER" => "suspect_window=60, z=2.5" })[:classifier])
    assert_equal 1.0, Memwatch::Config.new(env: { "MEMWATCH_INTERVAL" => "0.5" }, interval: 1)[:interval],
                 "keyword options win over the environment"
  end

  def test_bad_environment_variables_name_the_variable
    error = assert_raises(ArgumentError) { Memwatch::Config.new(env: { "MEMWATCH_INTERVAL" => "soon" }) }
    assert_match(/MEMWATCH_INTERVAL="soon" is invalid: interval must be a number/, error.message)
    error = assert_raises(ArgumentError) { Memwatch::Config.new(env: { "MEMWATCH_FORK" => "maybe" }) }
    assert_match(/MEMWATCH_FORK="maybe"/, error.message)
  end

  def test_memwatch_1_starts_without_code_changes
    out = IO.popen({ "MEMWATCH" => "1", "MEMWATCH_INTERVAL" => "0.05" },
                   [RbConfig.ruby, "-I", File.expand_path("../lib", __dir__), "-rmemwatch",
                    "-e", "sleep 0.3; p [Memwatch.running?, Memwatch.config[:interval], Memwatch.samples.size > 2]"],
                   &:read)
    assert_equal "[true, 0.05, true]\n", out
  end
end
