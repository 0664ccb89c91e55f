# frozen_string_literal: true

require_relative "test_helper"
require_relative "fixtures/heap/support"
require_relative "fixtures/heap/synth"
require "memwatch/heap"
require "json"

# Heap.summary on dumps whose contents are known, and its limits (gzip, threads, caps).
class TestHeap < Minitest::Test
  def setup
    @dir = Dir.mktmpdir("memwatch-heap")
  end

  def teardown
    FileUtils.rm_rf(@dir)
  end

  def test_summary_finds_exactly_what_the_dump_holds
    synth = HeapSynth.new(objects: 3000, sites: 7)
    s = Memwatch::Heap.summary(synth.write(path("a.json")))
    e = synth.expected
    assert_equal [e[:objects], e[:bytes], e[:traced], e[:roots]], [s.objects, s.bytes, s.traced, s.roots]
    assert_equal e[:by_class], s.by_class.to_h { |r| [r.key, r.count] }
    assert_equal e[:by_site], s.by_site.to_h { |site| [site.location, site.count] }
    assert_equal [nil, 20, 21, 22, 23, 24], s.by_generation.map(&:key)
    assert_equal(%w[ARRAY CLASS OBJECT STRING], s.by_type.map(&:key).sort)
  end

  def test_gzip_and_thread_count_do_not_change_the_result
    synth = HeapSynth.new(objects: 30_000, sites: 50)
    plain = synth.write(path("a.json"))
    gz = HeapSynth.new(objects: 30_000, sites: 50).write(path("a.json.gz"), gzip: true)
    want = Memwatch::Heap.summary(plain, threads: 0).to_h(top: 100)
    assert_equal want, Memwatch::Heap.summary(plain, threads: 3).to_h(top: 100)
    assert_equal want.merge(path: gz), Memwatch::Heap.summary(gz, threads: 2).to_h(top: 100)
    assert_equal synth.expected[:objects], want[:objects]
  end

  def test_since_keeps_only_newer_generations
    synth = HeapSynth.new(objects: 1000)
    s = Memwatch::Heap.summary(synth.write(path("a.json")), since: 23)
    assert_equal [23, 24], s.by_generation.map(&:key)
    assert_equal s.objects, s.by_generation.sum(&:count)
    assert_equal 1003 - s.objects, s.skipped
  end

  # Past max_keys objects are counted, not itemised: memory stays bounded, totals exact.
  def test_max_keys_caps_tables_without_losing_totals
    synth = HeapSynth.new(objects: 5000, sites: 2000, untraced: 1_000_000)
    s = Memwatch::Heap.summary(synth.write(path("a.json")), max_keys: 100)
    assert_equal synth.expected[:objects], s.objects
    assert_operator s.by_site.sum(&:count), :<, s.traced
    assert_equal s.traced, s.by_site.sum(&:count) + s.lost
    assert_operator s.by_site.size, :<=, 100
  end

  # A large synthetic dump, summarised by a child process whose peak RSS (VmHWM) must stay
  # far below the dump's size. MEMWATCH_HEAP_LARGE=0 skips it (e.g. in slow CI legs).
  def test_large_dump_in_bounded_memory
    skip "MEMWATCH_HEAP_LARGE=0" if ENV["MEMWATCH_HEAP_LARGE"] == "0"
    file = HeapSynth.new(objects: 600_000, sites: 200).write(path("large.json"))
    size = File.size(file)
    script = "require 'memwatch/heap'; s = Memwatch::Heap.summary(ARGV[0]); " \
             "puts s.objects, File.read('/proc/self/status')[/VmHWM:\\s+(\\d+)/, 1].to_i * 1024"
    out, status = HeapTestSupport.capture(HeapTestSupport.child_env, RbConfig.ruby, "-e", script, file, timeout: 120)
    assert status.success?, out
    objects, peak = out.lines.map(&:to_i)
    assert_equal 600_003, objects
    assert_operator size, :>, 100 << 20
    assert_operator peak, :<, 120 << 20, "peak RSS #{peak} for a #{size}-byte dump"
    assert_operator peak, :<, size / 2
  end

  private

  def path(name) = File.join(@dir, name)
end
