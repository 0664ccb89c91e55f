# frozen_string_literal: true

require_relative "test_helper"
require_relative "support/native_memory"
require "memwatch"

class TestSampler < Minitest::Test
  MB = 1024 * 1024

  def teardown
    Memwatch.stop
  end

  def wait_for(timeout: 10)
    deadline = Process.clock_gettime(Process::CLOCK_MONOTONIC) + timeout
    until (result = yield)
      flunk "condition not met within #{timeout}s" if Process.clock_gettime(Process::CLOCK_MONOTONIC) > deadline
      sleep 0.02
    end
    result
  end

  def test_start_and_stop_are_idempotent
    assert Memwatch.start(interval: 0.05)
    refute Memwatch.start(interval: 0.05)
    assert Memwatch.running?
    assert Memwatch.stop
    refute Memwatch.stop
    refute Memwatch.running?
  end

  def test_ticks_arrive_at_the_interval
    Memwatch.start(interval: 0.05)
    samples = wait_for { (s = Memwatch.samples).size >= 10 && s }
    gaps = samples.each_cons(2).map { |a, b| b[:tick] - a[:tick] }
    median = gaps.sort[gaps.size / 2]
    # A cadence check, not a timing assertion: the median gap is the interval
    # give or take scheduling; a broken timer would be off by multiples.
    assert_in_delta 0.05, median, 0.04
    assert samples.all? { |s| s[:type] == "sample" }
  end

  def test_rings_wrap_and_stay_bounded
    Memwatch.start(interval: 0.01, ring_size: 10, long_ring_size: 10, long_interval: 0.02)
    wait_for { Memwatch.stats[:ticks] >= 40 }
    stats = Memwatch.stats
    assert_equal 10, Memwatch.samples.size
    assert_equal 10, Memwatch.samples(resolution: :long).size
    assert_equal 10, stats[:recent_samples]
    ticks = Memwatch.samples.map { |s| s[:tick] }
    assert_equal ticks.sort, ticks, "samples come oldest first"
    bytes = stats[:bytes]
    wait_for { Memwatch.stats[:ticks] >= 80 }
    assert_equal bytes, Memwatch.stats[:bytes], "memwatch's memory does not grow with time"
  end

  def test_samples_since_and_limit
    Memwatch.start(interval: 0.02)
    wait_for { Memwatch.samples.size >= 6 }
    all = Memwatch.samples
    assert_equal 2, Memwatch.samples(limit: 2).size
    assert_equal all.last(2).map { |s| s[:tick] }, Memwatch.samples(limit: 2).map { |s| s[:tick] }
    since = all[2][:tick]
    assert(Memwatch.samples(since: since).all? { |s| s[:tick] > since })
    assert_operator Memwatch.samples(resolution: :all).size, :>=, all.size
    assert_raises(ArgumentError) { Memwatch.samples(resolution: :hourly) }
    assert_raises(ArgumentError) { Memwatch.samples(limit: -1) }
  end

  def test_stop_joins_promptly_even_with_a_long_interval
    Memwatch.start(interval: 3600)
    wait_for { Memwatch.stats[:ticks] >= 1 }
    started = Process.clock_gettime(Process::CLOCK_MONOTONIC)
    Memwatch.stop
    # Generous bound: a sleeping sampler must be woken, not waited out (3600 s).
    assert_operator Process.clock_gettime(Process::CLOCK_MONOTONIC) - started, :<, 30
    refute(Thread.list.any? { |t| t.name == "memwatch-gc" })
  end

  def test_gc_counters_move_after_gc_start
    Memwatch.start(interval: 0.02)
    before = wait_for { Memwatch.samples.last }
    3.times { GC.start }
    target = GC.stat(:major_gc_count)
    after = wait_for { (s = Memwatch.samples.last) && s[:major_gc_count] >= target && s }
    assert_operator after[:count], :>=, before[:count] + 3
    assert_operator after[:major_gc_count], :>=, before[:major_gc_count] + 3
    assert_operator after[:gc_age_seconds], :>=, 0
    assert_equal after[:heap_allocated_pages] * GC::INTERNAL_CONSTANTS[:HEAP_PAGE_SIZE], after[:ruby_heap_bytes]
  end

  # RSS and anonymous RSS come from statm every tick; status (swap, threads, shmem)
  # every ~1 s, carried in between, so every row is whole and adds up.
  def test_every_row_has_the_status_figures_and_they_add_up
    Memwatch.start(interval: 0.05)
    rows = wait_for { (r = Memwatch.samples).size >= 25 && r }
    rows.each do |r|
      %i[rss_bytes rss_anon_bytes rss_file_bytes rss_shmem_bytes threads].each { |k| refute_nil r[k], "#{k} at #{r[:tick]}" }
      assert_equal r[:rss_bytes], r[:rss_anon_bytes] + r[:rss_file_bytes] + r[:rss_shmem_bytes]
      assert_operator r[:threads], :>=, 3 # main, memwatch-gc, the memwatch pthread
    end
    status = File.read("/proc/self/status")[/VmRSS:\s+(\d+)/, 1].to_i * 1024
    assert_in_delta status, rows.last[:rss_bytes], 0.25 * status, "statm and status agree on RSS"
  end

  # GC counters are read every gc_every ticks (by default every ~0.5 s): the
  # memwatch-gc thread wakes that often, and the rows in between say how old theirs are.
  def test_gc_counters_are_read_every_gc_every_ticks
    Memwatch.start(interval: 0.02, gc_every: 5)
    wait_for { Memwatch.stats[:ticks] >= 40 }
    stats = Memwatch.stats
    assert_in_delta stats[:ticks] / 5.0, stats[:gc_reads], 2
    rows = Memwatch.samples.last(20)
    assert(rows.all? { |r| r[:count] }, "every row carries GC counters")
    assert_operator rows.map { |r| r[:gc_age_seconds] }.max, :>=, 0.05, "some rows carry older counters"
  end

  def test_rss_and_anon_rss_follow_native_memory
    Memwatch.start(interval: 0.02)
    base = wait_for { Memwatch.samples.last }
    # mmap, not malloc: malloc may reuse pages an earlier test freed and
    # glibc kept resident, and then RSS rightly does not grow (seen in CI).
    mapping = NativeMemory.map(50 * MB)
    allocated_at = Process.clock_gettime(Process::CLOCK_REALTIME)
    grown = wait_for { (s = Memwatch.samples.last) && s[:tick] > allocated_at && s }
    # Ranges, not exact values: the GC may hand pages back meanwhile.
    assert_operator grown[:rss_bytes] - base[:rss_bytes], :>, 40 * MB
    assert_operator grown[:rss_anon_bytes] - base[:rss_anon_bytes], :>, 40 * MB
    assert_operator grown[:rss_anon_bytes] - base[:rss_anon_bytes], :<, 80 * MB
    assert_operator grown[:rss_bytes], :>=, grown[:rss_anon_bytes]
  ensure
    NativeMemory.unmap(mapping) if mapping
  end

  def test_sample_has_every_column_in_order
    sample = Memwatch.sample
    assert_equal Memwatch.columns, sample.keys
    assert_equal GC.stat.keys, Memwatch.columns[2, GC.stat.keys.size]
    assert_operator sample[:rss_bytes], :>, 1 * MB
    assert_operator sample[:threads], :>=, 1
    assert_kind_of Integer, sample[:pss_bytes] if File.readable?("/proc/self/smaps_rollup")
  end

  def test_glibc_figures_without_jemalloc
    skip "running under jemalloc" if Memwatch.allocator == "jemalloc"
    skip "valgrind replaces malloc: mallinfo2 reads zeros" if ENV["MEMWATCH_VALGRIND"] == "1"
    assert_equal "glibc", Memwatch.allocator
    sample = Memwatch.sample
    assert_operator sample[:glibc_in_use_bytes], :>, 0
    refute sample.key?(:je_allocated_bytes)
  end

  def test_purge_reports_rss_before_and_after
    ptrs = NativeMemory.allocate(20 * MB, chunk: 64 * 1024)
    NativeMemory.release(ptrs)
    result = Memwatch.purge
    assert_equal Memwatch.allocator, result[:allocator]
    assert_equal result[:rss_before_bytes] - result[:rss_after_bytes], result[:released_bytes]
    assert_equal result, Memwatch.purges.last
  end

  def test_snapshot_is_json_with_history
    require "json"
    Memwatch.start(interval: 0.02)
    wait_for { Memwatch.samples.size >= 3 }
    doc = JSON.parse(Memwatch.snapshot)
    assert_equal Process.pid, doc["memwatch"]["pid"]
    assert_equal Memwatch.allocator, doc["allocator"]["name"]
    assert_equal 0.02, doc["config"]["interval"]
    assert_equal Memwatch.columns.map(&:to_s), doc["history"]["columns"]
    assert_operator doc["history"]["recent"].size, :>=, 3
    assert_equal doc["history"]["columns"].size, doc["history"]["recent"].first.size
    assert_kind_of Integer, doc["latest"]["rss_bytes"]
    assert_operator doc["memwatch"]["bytes"], :>, 0
  end
end
