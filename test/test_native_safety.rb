# frozen_string_literal: true

require_relative "test_helper"
require "memwatch"

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
    assert_raises(ArgumentError) { sampler._start(0.0, [10, 10], [1, 1, 1, 1], 16_384) }
    assert_raises(ArgumentError) { sampler._start(1.0, [0, 10], [1, 1, 1, 1], 16_384) }
    assert_raises(ArgumentError) { sampler._start(1.0, [10], [1, 1, 1, 1], 16_384) }
    assert_raises(TypeError) { sampler._start(1.0, nil, [1, 1, 1, 1], 16_384) }
    assert_raises(ArgumentError) { sampler._set_verdict("a\tb", nil) }
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

  def test_compaction_while_sampling
    skip "no compaction" unless GC.respond_to?(:compact)
    Memwatch.start(interval: 0.01)
    sleep 0.1
    GC.compact
    GC.verify_compaction_references(toward: :empty, double_heap: true)
    assert Memwatch.running?
    after = Memwatch.samples.last[:tick]
    sleep 0.1
    assert_operator Memwatch.samples.last[:tick], :>, after
    assert_operator Memwatch.samples.last[:total_moved_objects], :>, 0
  end
end
