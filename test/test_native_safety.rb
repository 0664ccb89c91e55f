# frozen_string_literal: true

require_relative "test_helper"
require "memwatch"
require "open3"
require "json"

# Attacks on the C extension: uninitialised objects, GC.stress, compaction.
class TestNativeSafety < Minitest::Test
  def teardown = Memwatch.stop

  def test_uninitialized_sampler_raises_instead_of_crashing
    sampler = Memwatch::Native::Sampler.allocate
    %i[_stop _running? _sample_now _stats _await_tick].each do |m|
      error = assert_raises(RuntimeError) { sampler.public_send(m) }
      assert_match(/uninitialized Memwatch::Native::Sampler/, error.message)
    end
    assert_raises(RuntimeError) { sampler._samples(0, nil, nil) }
    assert_raises(TypeError) { Memwatch::Native._snapshot(Object.new, {}) }
    assert_raises(RuntimeError) { Memwatch::Native::Sampler.new.send(:initialize) }
  end

  def test_bad_primitive_arguments_raise
    sampler = Memwatch::Native::Sampler.new
    assert_raises(ArgumentError) { sampler._start(0.0, [10, 10], [1, 1, 1, 1, 1, 1], 16_384) }
    assert_raises(ArgumentError) { sampler._start(1.0, [0, 10], [1, 1, 1, 1, 1, 1], 16_384) }
    assert_raises(ArgumentError) { sampler._start(1.0, [10], [1, 1, 1, 1, 1, 1], 16_384) }
    assert_raises(TypeError) { sampler._start(1.0, nil, [1, 1, 1, 1, 1, 1], 16_384) }
    assert_raises(ArgumentError) { sampler._start(1.0, [10, 10], [1, 1, 1, 1], 16_384) }
    assert_raises(ArgumentError) { sampler._start(1.0, [10, 10], [1, 1, 1, 1, 1, 0], 16_384) }
    assert_raises(ArgumentError) { sampler._set_verdict("a\tb", nil) }
  end

  # The pthread owns the log while it runs: swapping it underneath would free
  # what the pthread is writing with.
  def test_the_log_cannot_be_replaced_under_a_running_sampler
    Dir.mktmpdir do |dir|
      Memwatch.start(interval: 0.05, log: dir)
      %w[open close].each do |what|
        e = assert_raises(RuntimeError) do
          what == "open" ? Memwatch::Native._log_open(File.join(dir, "x.tsv"), nil, "", 0, 0) : Memwatch::Native._log_close
        end
        assert_match(/cannot #{what} the log while the sampler runs/, e.message)
      end
      sleep 0.15
      Memwatch.stop
      assert_operator File.readlines(Memwatch.log_path).count { |l| l.start_with?("sample\t") }, :>=, 1
    end
  end

  def test_gc_stress_while_sampling
    skip "GC.stress under valgrind takes too long; run without MEMWATCH_VALGRIND" if ENV["MEMWATCH_VALGRIND"] == "1"
    # Small rings: under GC.stress every allocation is a full GC.
    Memwatch.start(interval: 0.01, ring_size: 10, long_ring_size: 10)
    sleep 0.15
    GC.stress = true
    assert GC.stress, "GC.stress must really be on"
    3.times do
      Memwatch.samples
      Memwatch.sample
      Memwatch.snapshot
      Memwatch::Runner.periodic
    end
  ensure
    GC.stress = false
  end

  # In a fresh Ruby that loads only memwatch (see test_helper.rb for why not
  # in the suite's process): everything moves once, then auto-compaction runs
  # through a churn of allocations while memwatch samples, answers samples,
  # snapshots and verdicts, and runs its periodic work.
  COMPACTION_SCRIPT = <<~'RUBY'
    require "memwatch"
    require "json"
    Memwatch.start(interval: 0.01)
    sleep 0.1
    GC.compact
    GC.verify_compaction_references(toward: :empty, double_heap: true)
    GC.auto_compact = true
    keep = []
    200.times do |i|
      keep << Array.new(500) { |j| "s#{i}-#{j}" }
      keep.shift if keep.size > 20
      GC.start if (i % 20).zero?
      Memwatch.samples(limit: 5)
      Memwatch.sample
      JSON.parse(Memwatch.snapshot)
      Memwatch.verdict
      Memwatch::Runner.periodic if (i % 50).zero?
    end
    GC.compact
    before = Memwatch.samples.last[:tick]
    sleep 0.1
    abort "sampling stopped" unless Memwatch.running? && Memwatch.samples.last[:tick] > before
    puts JSON.generate(moved: GC.stat(:total_moved_objects), compactions: GC.stat(:compact_count))
  RUBY

  def test_compaction_while_sampling
    skip "no compaction" unless GC.respond_to?(:compact)
    lib = File.expand_path("../lib", __dir__)
    out, err, status = Open3.capture3(RbConfig.ruby, "-I", lib, "-e", COMPACTION_SCRIPT)
    assert status.success?, "compaction run failed (#{status.inspect}): #{err[-2000..] || err}"
    figures = JSON.parse(out.lines.last)
    assert_operator figures["moved"], :>, 0, "objects really moved"
    assert_operator figures["compactions"], :>=, 2
  end
end
