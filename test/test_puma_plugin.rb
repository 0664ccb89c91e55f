# frozen_string_literal: true

require_relative "test_helper"
require_relative "e2e/puma_cluster/harness"
gem "puma", PumaHarness.puma_version if PumaHarness.puma_version
require "puma"
require "puma/configuration"
require "puma/launcher"
require "memwatch/puma_support"

# The plugin's options and its hook registration, against the real Puma::Configuration
# of the Puma under test (the end-to-end test boots a real server).
class TestPumaPlugin < Minitest::Test
  Settings = Memwatch::PumaSupport::Settings

  def test_loading_the_plugin_starts_nothing
    lib = File.expand_path("../lib", __dir__)
    code = 'require "puma/plugin/memwatch"; print [Memwatch.running?, Thread.list.size, Memwatch::Cluster.publisher].inspect'
    out = IO.popen([RbConfig.ruby, "-I", lib, "-e", code], err: File::NULL, &:read)
    assert_equal "[false, 1, nil]", out
  end

  def test_unknown_options_fail_with_the_known_ones_listed
    error = assert_raises(ArgumentError) { Settings.new({ intervl: 1 }) }
    assert_match(/unknown option :intervl \(known: interval, log, .* cluster_dir, reference_delay, master\)/, error.message)
    assert_raises(ArgumentError) { Settings.new({ interval: -1 }) }
    assert_raises(ArgumentError) { Settings.new({ master: "yes" }) }
    assert_raises(ArgumentError) { Settings.new({ reference_delay: "soon" }) }
    assert_raises(ArgumentError) { Settings.new([]) }
  end

  def test_start_options_per_process
    s = Settings.new({ interval: 0.5 }, env: {})
    assert_equal({ interval: 0.5, label: "worker-2", fork: false }, s.start_options("worker-2"))
    given = Settings.new({ fork: true, verdict_interval: 30.0 }, env: {})
    assert_equal({ fork: true, verdict_interval: 30.0, label: "master" }, given.start_options("master"))
    from_env = Settings.new({}, env: { "MEMWATCH_FORK" => "1", "MEMWATCH_VERDICT_INTERVAL" => "9" })
    assert_equal({ label: "single" }, from_env.start_options("single"), "MEMWATCH_* variables are left to Memwatch.start")
  end

  def test_a_log_file_path_becomes_one_file_per_process
    Dir.mktmpdir do |dir|
      s = Settings.new({ log: File.join(dir, "mem.tsv") }, env: {})
      assert_equal File.join(dir, "mem.worker-1.#{Process.pid}.tsv"), s.start_options("worker-1")[:log]
      assert_equal "#{dir}/", Settings.new({ log: "#{dir}/" }, env: {}).start_options("worker-1")[:log]
      env_log = Settings.new({}, env: { "MEMWATCH_LOG" => File.join(dir, "m.tsv") }).start_options("master")[:log]
      assert_equal File.join(dir, "m.master.#{Process.pid}.tsv"), env_log
    end
  end

  def test_reference_delay_defaults_follow_preload
    assert_equal 0.0, Settings.new({}, preload: true, env: {}).reference_delay
    assert_equal 30.0, Settings.new({}, preload: false, env: {}).reference_delay
    assert_equal 5.0, Settings.new({}, env: { "MEMWATCH_REFERENCE_DELAY" => "5" }).reference_delay
    assert_equal 1.5, Settings.new({ reference_delay: 1.5 }, env: {}).reference_delay
  end

  # Puma drops the first option of the config file when a plugin has a config(dsl)
  # method; memwatch's plugin has none, so `workers 2` written first survives.
  def test_loading_the_plugin_keeps_every_config_option
    conf = configuration(workers: 2)
    conf.load
    assert_equal 2, options(conf)[:workers]
  end

  def test_cluster_mode_registers_worker_hooks_from_the_start_hook
    hooks = installed(workers: 2)
    assert_equal 1, hooks[:before_worker_boot].size
    assert_equal 1, hooks[:before_worker_shutdown].size
  end

  def test_hooks_are_added_without_deprecation_or_single_mode_warnings
    out, err = capture_io { installed(workers: 2) }
    refute_match(/will not execute|deprecat/i, out + err)
  end

  # A bad MEMWATCH_* value in production is logged; Puma boots without memwatch.
  def test_a_bad_environment_value_leaves_memwatch_off_not_puma_down
    ENV["MEMWATCH_INTERVAL"] = "abc"
    launcher = Puma::Launcher.new(configuration(workers: 0))
    out, err = capture_subprocess_io { Memwatch::PumaSupport.start(launcher) }
    assert_match(/memwatch: not started: .*MEMWATCH_INTERVAL="abc" is invalid/, out + err)
    refute Memwatch.running?
  ensure
    ENV.delete("MEMWATCH_INTERVAL")
  end

  def test_the_dsl_takes_options_and_checks_them
    conf = configuration(workers: 0, memwatch: { interval: 0.5, cluster_dir: "/tmp/x" })
    conf.load
    assert_equal({ interval: 0.5, cluster_dir: "/tmp/x" }, options(conf)[:memwatch])
    assert_raises(ArgumentError) { configuration(workers: 0, memwatch: { bogus: 1 }) }
  end

  private

  def configuration(workers:, memwatch: nil)
    Puma::Configuration.new({}) do |_user, file, _default|
      file.workers workers
      file.bind "tcp://127.0.0.1:0"
      file.plugin :memwatch
      file.memwatch(**memwatch) if memwatch
    end
  end

  # What the plugin's start hook adds, on a real (not running) Puma::Launcher.
  def installed(workers:)
    conf = configuration(workers: workers)
    launcher = Puma::Launcher.new(conf)
    Memwatch::PumaSupport::Hooks.install_worker_hooks(launcher)
    opts = options(launcher.config)
    %i[before_worker_boot before_worker_shutdown].to_h { |k| [k, opts.all_of(k)] }
  end

  def options(conf) = conf.respond_to?(:_options) ? conf._options : conf.options
end
