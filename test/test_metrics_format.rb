# frozen_string_literal: true

require_relative "test_helper"
require_relative "e2e/puma_cluster/prometheus_helper"
require "memwatch/metrics"

# The exposition itself, from hand-made process states (no native extension): promtool
# accepts it, each family is whole, every sample names its worker, values are converted
# to base units, and odd label values are escaped.
class TestMetricsFormat < Minitest::Test
  def test_promtool_finds_no_problem
    ok, out = PrometheusHelper.promtool(render)
    assert ok, out
    assert_empty out.strip, "promtool lint findings"
  end

  def test_families_are_whole_and_typed_once
    lines = render.lines(chomp: true)
    names = lines.grep(/\A# TYPE /).map { |l| l.split[2] }
    assert_equal names.uniq, names, "one TYPE per family"
    order = lines.grep_v(/\A#/).map { |l| l[/\A[a-z_]+/] }
    assert_equal order.chunk_while { |a, b| a == b }.map(&:first), order.uniq, "a family's samples stay together"
    lines.grep(/\A# TYPE \S+ counter/).each { |l| assert l.split[2].end_with?("_total"), l }
    assert render.end_with?("\n")
  end

  def test_every_sample_is_labelled_by_worker_with_base_units
    samples = parse(render)
    assert samples.keys.all? { |_, labels| labels.key?("worker") }
    assert_equal 300_000_000, samples[["memwatch_rss_bytes", { "worker" => "1" }]]
    assert_equal 200_000_000, samples[["memwatch_rss_bytes", { "worker" => "master" }]]
    assert_in_delta 1.234, samples[["memwatch_gc_duration_seconds_total", { "worker" => "0" }]], 1e-9
    assert_equal 7, samples[["memwatch_gc_runs_total", { "worker" => "0", "type" => "major" }]]
    assert_equal 40_000, samples[["memwatch_ruby_heap_slots", { "worker" => "0", "state" => "free" }]]
    assert_equal 12_000_000, samples[["memwatch_uss_growth_bytes", { "worker" => "1" }]]
    assert_in_delta 10_000.0, samples[["memwatch_verdict_rss_growth_bytes_per_second", { "worker" => "1" }]], 1e-6
  end

  def test_allocator_families_from_either_allocator
    samples = parse(render)
    assert_equal 50_000_000, samples[["memwatch_allocator_allocated_bytes", { "worker" => "0" }]], "glibc in use"
    assert_equal 60_000_000, samples[["memwatch_allocator_mapped_bytes", { "worker" => "0" }]], "glibc arena + mmap"
    assert_equal 70_000_000, samples[["memwatch_allocator_allocated_bytes", { "worker" => "1" }]], "jemalloc allocated"
    assert_equal 9_000_000, samples[["memwatch_allocator_retained_bytes", { "worker" => "1" }]]
    refute samples.key?(["memwatch_allocator_retained_bytes", { "worker" => "0" }]), "not measured: absent, not 0"
  end

  def test_verdict_is_a_state_set
    samples = parse(render)
    kinds = samples.select { |(name, labels), _| name == "memwatch_verdict" && labels["worker"] == "1" }
    assert_equal Memwatch::Verdict::KINDS.sort, kinds.keys.map { |(_, l)| l["kind"] }.sort
    assert_equal [["native", 1]], kinds.select { |_, v| v == 1 }.map { |(_, l), v| [l["kind"], v] }
    assert_equal 2, samples[["memwatch_verdict_level", { "worker" => "1" }]]
    refute samples.keys.any? { |name, l| name == "memwatch_verdict" && l["worker"] == "master" }, "no verdict yet: no samples"
  end

  def test_missing_and_non_finite_values_are_left_out
    doc = process("0", "worker", sample: { "rss_bytes" => nil, "gc_age_seconds" => Float::NAN })
    text = Memwatch::Metrics.render([doc])
    refute_match(/memwatch_rss_bytes/, text, "no HELP/TYPE for a family without samples")
    refute_match(/NaN|Inf/, text)
  end

  def test_label_values_are_escaped
    doc = process("0", "worker", version: %(1.0"beta\\x\ny))
    text = Memwatch::Metrics.render([doc])
    assert_includes text, %(version="1.0\\"beta\\\\x\\ny")
    ok, out = PrometheusHelper.promtool(text)
    assert ok, out
  end

  private

  def render
    @render ||= Memwatch::Metrics.render(
      [process("master", "master", sample: { "rss_bytes" => 200_000_000 }, verdict: nil),
       process("0", "worker"),
       process("1", "worker", allocator: "jemalloc", sample: jemalloc.merge("rss_bytes" => 300_000_000),
                              verdict: { "kind" => "native", "level" => "confirmed", "confidence" => 0.9,
                                         "rss_bytes_per_hour" => 36_000_000 })]
    )
  end

  def jemalloc
    { "glibc_in_use_bytes" => nil, "glibc_arena_bytes" => nil, "glibc_mmap_bytes" => nil, "glibc_free_bytes" => nil,
      "je_allocated_bytes" => 70_000_000, "je_active_bytes" => 75_000_000, "je_resident_bytes" => 80_000_000,
      "je_mapped_bytes" => 90_000_000, "je_retained_bytes" => 9_000_000, "je_metadata_bytes" => 3_000_000 }
  end

  def process(worker, role, sample: {}, verdict: { "kind" => "none", "level" => nil, "confidence" => 0.5 },
              allocator: "glibc", version: "0.1.0")
    base = { "tick" => 1_795_000_000.5, "rss_bytes" => 100_000_000, "rss_anon_bytes" => 80_000_000,
             "heap_live_slots" => 400_000, "heap_free_slots" => 40_000, "heap_allocated_pages" => 1000,
             "old_objects" => 300_000, "minor_gc_count" => 40, "major_gc_count" => 7, "time" => 1234,
             "total_allocated_objects" => 9_000_000, "total_freed_objects" => 8_600_000,
             "ruby_heap_bytes" => 16_384_000, "gc_age_seconds" => 0.01, "threads" => 7,
             "glibc_in_use_bytes" => 50_000_000, "glibc_arena_bytes" => 40_000_000, "glibc_mmap_bytes" => 20_000_000,
             "glibc_free_bytes" => 2_000_000, "memwatch_cpu_seconds" => 0.5 }
    { "worker" => worker, "role" => role, "pid" => 1000 + worker.to_i, "version" => version, "ruby" => "3.1.2",
      "allocator" => allocator, "sample" => base.merge(sample), "age_seconds" => 0.5,
      "memory" => { "rss_bytes" => 100_000_000, "pss_bytes" => 60_000_000, "uss_bytes" => 40_000_000 },
      "growth" => { "rss_bytes" => 20_000_000, "pss_bytes" => 15_000_000, "uss_bytes" => 12_000_000 },
      "stats" => { "cpu_seconds" => 0.5, "bytes" => 2_800_000, "ticks" => 100, "errors" => 0 }, "verdict" => verdict }
  end

  # {[name, labels] => value} from the text format (enough of it for these tests).
  def parse(text)
    text.lines(chomp: true).grep_v(/\A#/).to_h do |line|
      m = line.match(/\A(\w+)(?:\{(.*)\})? (\S+)\z/) or flunk("bad line #{line.inspect}")
      labels = m[2].to_s.scan(/(\w+)="((?:[^"\\]|\\.)*)"/).to_h
      value = m[3].include?(".") || m[3].include?("e") ? Float(m[3]) : Integer(m[3])
      [[m[1], labels], value]
    end
  end
end
