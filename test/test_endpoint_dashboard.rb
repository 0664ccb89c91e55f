# frozen_string_literal: true

require_relative "test_helper"
require "memwatch/app"
require "memwatch/verdict"

# The dashboard's pieces without a server: axis ranges, the SVG chart, the verdict banner.
class TestEndpointDashboard < Minitest::Test
  Units = Memwatch::Endpoint::Units
  SvgChart = Memwatch::Endpoint::SvgChart

  def test_nice_ranges_cover_the_data_with_round_steps
    [[4_767_744 / 1048576.0, 4_784_128 / 1048576.0], [0, 0], [3, 3], [0, 100], [60, 140], [0.001, 0.002],
     [12, 1_234_567], [-5, 5], [100, 101]].each do |lo, hi|
      min, max, step = Units.nice_range(lo, hi)
      assert_operator min, :<=, lo, [lo, hi].inspect
      assert_operator max, :>, hi, [lo, hi].inspect
      assert_operator (max - min) / step, :<=, 8
      mantissa = step / 10**Math.log10(step).floor
      assert([1, 2, 2.5, 5, 10].any? { |m| (mantissa - m).abs < 1e-9 }, "step #{step}")
      assert_operator max - min, :>=, hi.abs * 0.2, "a flat line is not magnified"
    end
    assert_equal 0.0, Units.nice_range(60, 140)[0], "starts at zero when the data are not far above it"
  end

  def test_human_units
    assert_equal "4.5 MiB", Units.bytes(4_767_744)
    assert_equal "512 B", Units.bytes(512)
    assert_equal "1.5 GiB", Units.bytes(1.5 * 1024**3)
    assert_equal "121.52k", Units.count(121_520)
    assert_equal "+3.4 MiB/h", Units.rate(3_600_000)
    assert_equal "−1.0 KiB/h", Units.rate(-1024)
    assert_nil Units.rate(nil)
  end

  def points_of(svg) = svg.scan(/points="([^"]*)"/).flatten.map { |p| p.split.map { |xy| xy.split(",").map(&:to_f) } }

  def test_the_chart_draws_every_series_inside_the_frame
    t0 = 1_795_000_000.0
    rss = Array.new(100) { |i| [t0 + i, 40_000_000 + i * 100_000] }
    heap = Array.new(100) { |i| [t0 + i, 10_000_000] }
    svg = SvgChart.new("Memory <&>", :bytes, [SvgChart::Series.new("RSS", "#2563eb", rss),
                                              SvgChart::Series.new("heap", "#16a34a", heap),
                                              SvgChart::Series.new("none", "#000000", [])]).render
    assert_includes svg, "Memory &lt;&amp;&gt;"
    lines = points_of(svg)
    assert_equal 2, lines.size, "empty series are left out"
    lines.flatten(1).each do |x, y|
      assert_includes SvgChart::LEFT..(SvgChart::W - SvgChart::RIGHT), x
      assert_includes SvgChart::TOP..(SvgChart::H - SvgChart::BOTTOM), y
    end
    rss_line = lines.first
    assert_operator rss_line.last[1], :<, rss_line.first[1], "growth goes up"
    assert_match(/>0 MiB</, svg)
  end

  def test_long_series_keep_their_spikes
    t0 = 1_795_000_000.0
    points = Array.new(20_000) { |i| [t0 + i, i == 12_345 ? 900 : 100] }
    svg = SvgChart.new("x", :count, [SvgChart::Series.new("x", "#000000", points)]).render
    line = points_of(svg).first
    assert_operator line.size, :<=, 2 * (SvgChart::W - SvgChart::LEFT - SvgChart::RIGHT + 1)
    base = line.first[1]
    spike = line.map(&:last).min
    assert_operator spike, :<, base - 50, "the one-sample spike survived the reduction"
  end

  def test_an_empty_chart_says_so
    assert_match(/No data/, SvgChart.new("x", :bytes, []).render)
  end

  def test_the_verdict_banner_reads_a_real_verdict
    v = Memwatch::Verdict.new(kind: "ruby_objects", level: :confirmed, confidence: 0.9,
                              rates: { "rss" => 7_200_000 }, shares: { "ruby_heap" => 0.75, "native" => 0.25 },
                              evidence: { "old_objects_per_hour" => 250_000, "heap_bytes" => 3 * 1024**2 },
                              explanation: "old objects <grow>", next_step: "take two heap dumps")
    html = Memwatch::Endpoint::VerdictView.new(Memwatch::Endpoint::Source.scrub(v.to_h)).render
    assert_includes html, %(class="verdict bad")
    assert_includes html, "Ruby objects are piling up"
    assert_includes html, "confirmed · RSS +6.9 MiB/h · confidence 90%"
    assert_includes html, "old objects &lt;grow&gt;"
    assert_includes html, "Next step: take two heap dumps"
    assert_includes html, "shares of the growth: ruby heap 75% · native 25%"
    assert_includes html, "heap bytes: 3.0 MiB"
    none = Memwatch::Endpoint::VerdictView.new(Memwatch::Verdict.new(kind: "none").to_h).render
    assert_includes none, %(class="verdict ok")
    assert_includes Memwatch::Endpoint::VerdictView.new(nil).render, "No verdict yet"
  end
end
