# frozen_string_literal: true

require_relative "test_helper"
require "memwatch/heap_walk"

# Ruby-owned malloc measured in a forked child: the numbers, the pipe, the
# reaping, the timeout. The last test needs the native extension.
class TestHeapWalk < Minitest::Test
  MIB = 1024 * 1024

  def wait_for(walk, seconds = 30)
    deadline = Process.clock_gettime(Process::CLOCK_MONOTONIC) + seconds
    while Process.clock_gettime(Process::CLOCK_MONOTONIC) < deadline
      result = walk.poll
      return result if result || !walk.running?

      sleep 0.02
    end
    flunk "heap walk still running after #{seconds} s"
  end

  # The walk's own child is gone (reaped): other tests in this process may
  # have children of their own, so ask about this pid only.
  def assert_reaped(pid)
    assert_kind_of Integer, pid
    assert_raises(Errno::ECHILD) { Process.wait(pid, Process::WNOHANG) }
  end

  def test_measure_sees_retained_string_bodies
    before = Memwatch::HeapWalk.measure
    keep = Array.new(2000) { "x" * 10_000 }
    after = Memwatch::HeapWalk.measure
    grown = after[:ruby_malloc_bytes] - before[:ruby_malloc_bytes]
    assert_in_delta 20_000_000, grown, 4 * MIB
    assert_operator after[:objects], :>=, before[:objects] + 1500 # other objects come and go
    assert_operator after[:memsize_bytes], :>, after[:ruby_malloc_bytes]
    keep.clear
  end

  def test_small_objects_are_not_ruby_malloc
    before = Memwatch::HeapWalk.measure
    keep = Array.new(100_000) { Object.new }
    after = Memwatch::HeapWalk.measure
    # Only the Array's 800 kB buffer, not 100k slots.
    assert_operator after[:ruby_malloc_bytes] - before[:ruby_malloc_bytes], :<, 2 * MIB
    keep.clear
  end

  def test_threads_vm_stacks_are_not_ruby_malloc
    before = Memwatch::HeapWalk.measure
    threads = Array.new(20) { Thread.new { sleep } }
    after = Memwatch::HeapWalk.measure
    # Each Thread reports a 1 MiB VM stack that is not malloc'd (research §4).
    assert_operator after[:ruby_malloc_bytes] - before[:ruby_malloc_bytes], :<, 2 * MIB
  ensure
    threads&.each(&:kill)&.each(&:join)
  end

  def test_walk_in_a_child_reports_and_reaps
    got = []
    keep = Array.new(1000) { "y" * 20_000 }
    walk = Memwatch::HeapWalk.new(reporter: ->(b) { got << b })
    assert walk.start
    pid = walk.pid
    refute walk.start, "one walk at a time"
    result = wait_for(walk)
    refute_nil result, walk.last_error
    assert_operator result.ruby_malloc_bytes, :>, 18 * MIB
    assert_equal [result.ruby_malloc_bytes], got
    assert_kind_of Float, result.tick
    refute walk.running?
    assert_reaped(pid)
    keep.clear
  end

  def test_the_child_is_flagged_for_the_fork_hook_and_skips_at_exit
    seen = nil
    walk = Memwatch::HeapWalk.new(reporter: nil, measure: lambda {
      flagged = Thread.current[:memwatch_internal_fork] ? 1 : 0
      { ruby_malloc_bytes: flagged, objects: 1, memsize_bytes: 1, seconds: 0.0 }
    })
    walk.start
    seen = wait_for(walk)
    assert_equal 1, seen.ruby_malloc_bytes
    assert_nil Thread.current[:memwatch_internal_fork], "the parent's flag is cleared"
  end

  def test_a_slow_child_is_killed_and_reaped
    walk = Memwatch::HeapWalk.new(timeout: 0.3, reporter: nil, measure: -> { sleep 30 })
    walk.start
    pid = walk.pid
    assert_nil wait_for(walk, 10)
    refute walk.running?
    assert_match(/timed out/, walk.last_error)
    assert_reaped(pid)
  end

  def test_a_failing_child_is_reported_not_raised
    walk = Memwatch::HeapWalk.new(reporter: ->(_) { flunk "no result to report" },
                                  measure: -> { raise "boom" })
    walk.start
    pid = walk.pid
    assert_nil wait_for(walk)
    assert_match(/child failed \(no answer\)/, walk.last_error)
    assert_reaped(pid)
  end

  def test_abort_kills_and_reaps
    walk = Memwatch::HeapWalk.new(reporter: nil, measure: -> { sleep 30 })
    walk.start
    pid = walk.pid
    walk.abort
    refute walk.running?
    assert_nil walk.abort
    assert_reaped(pid)
  end

  def test_timeout_is_checked
    assert_raises(ArgumentError) { Memwatch::HeapWalk.new(timeout: 0) }
  end

  def test_result_reaches_the_next_sample
    begin
      require "memwatch"
    rescue LoadError
      skip "native extension not built"
    end
    skip "memwatch already running" if Memwatch.running?
    Memwatch.start(interval: 0.05)
    walk = Memwatch::HeapWalk.new
    walk.start
    result = wait_for(walk)
    refute_nil result, walk.last_error
    deadline = Time.now + 10
    row = nil
    until row || Time.now > deadline
      sleep 0.1
      row = Memwatch.samples.find { |s| s[:ruby_malloc_bytes] }
    end
    refute_nil row, "no sample carried ruby_malloc_bytes"
    assert_equal result.ruby_malloc_bytes, row[:ruby_malloc_bytes]
  ensure
    Memwatch.stop if defined?(Memwatch.running?) && Memwatch.running?
  end
end
