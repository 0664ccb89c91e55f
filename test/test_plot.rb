# frozen_string_literal: true

require_relative "test_helper"
require_relative "fixtures/logs/cli_support"
require_relative "fixtures/logs/synth"
require_relative "fixtures/logs/synth_host"
require_relative "fixtures/logs/mini_svg"
require "memwatch/plot/axis"

# The chart is checked structurally here (parsed SVG, PNG magic, gnuplot script); it was
# also looked at, rendered to PNG (see doc/readme-cli.md).
class TestPlot < Minitest::Test
  include CliSupport
  MIB = MemwatchSynth::MIB

  def setup
    @dir = Dir.mktmpdir
  end

  def teardown
    FileUtils.rm_rf(@dir)
  end

  def svg_doc(path)
    MiniSVG.new(File.read(path))
  end

  def texts(doc, cls)
    doc.texts(cls)
  end

  def test_single_log_chart_structure
    log = MemwatchSynth.ruby_leak(File.join(@dir, "leak.tsv"), n: 360, label: "worker-0")
    out = File.join(@dir, "leak.svg")
    code, _, err = cli("plot", log, "-o", out)
    assert_equal 0, code, err
    assert_match(/wrote #{Regexp.escape(out)}/, err)
    doc = svg_doc(out)
    assert_equal "svg", doc.elements.first.name
    assert_equal "http://www.w3.org/2000/svg", doc.elements.first["xmlns"]
    columns = doc.all("g", "class" => "series").map { |g| g["data-column"] }
    assert_equal %w[rss_bytes pss_bytes ruby_heap_bytes glibc_in_use_bytes glibc_free_bytes], columns
    rss_path = doc.all("g", "data-column" => "rss_bytes").first.child("path")["d"]
    assert_operator rss_path.count("L"), :>=, 300, "every sample (or each bucket's low and high) is drawn"
    assert_equal "memory (MiB)", texts(doc, "ylabel").first
    assert_equal %w[0 50 100 150 200 250 300], texts(doc, "ytick")
    assert_match(/\Atime of day \(UTC[+-]\d\d:\d\d\)\z/, texts(doc, "xlabel").first)
    assert(texts(doc, "xtick").all? { |t| t.match?(/\A\d\d:\d\d\z/) }, texts(doc, "xtick").inspect)
    assert_equal "memwatch: worker-0 (4242)", texts(doc, "title").first
    assert_match(/\Averdict: \S/, texts(doc, "verdict").first)
    legend = doc.all("g", "class" => "legend-entry").flat_map { |g| g.children.select { |c| c.name == "text" }.map(&:text) }
    assert_includes legend, "RSS"
    assert_includes legend, "+180.0 MiB/h"
    spans = doc.all("rect", "class" => "span").map { |r| r["data-kind"] }
    assert_equal %w[insufficient_data ruby_objects], spans, "the verdicts the process logged, over time"
  end

  def test_series_are_placed_on_the_axis
    log = MemwatchSynth.write(File.join(@dir, "flat.tsv"), n: 100) { { rss_bytes: 100 * MIB } }
    out = File.join(@dir, "flat.svg")
    assert_equal 0, cli("plot", log, "-o", out, "--columns", "rss_bytes")[0]
    doc = svg_doc(out)
    ys = doc.all("g", "data-column" => "rss_bytes").first.child("path")["d"].scan(/[\d.]+,([\d.]+)/).flatten.uniq
    tick = doc.all("text", "class" => "ytick").find { |t| t.text == "100" }
    assert_equal 1, ys.size, "a constant series is a flat line"
    assert_in_delta tick["y"].to_f - 4, ys.first.to_f, 0.5, "100 MiB sits on the 100 tick"
  end

  def test_several_logs_on_one_chart_with_one_band_each
    logs = [MemwatchSynth.ruby_leak(File.join(@dir, "w0.tsv"), n: 120, label: "worker-0", pid: 10),
            MemwatchSynth.plateau(File.join(@dir, "w1.tsv"), n: 120, label: "worker-1", pid: 11),
            MemwatchSynth.native_leak(File.join(@dir, "w2.tsv"), n: 120, label: "worker-2", pid: 12)]
    out = File.join(@dir, "all.svg")
    assert_equal 0, cli("plot", *logs, "-o", out)[0]
    doc = svg_doc(out)
    by_log = doc.all("g", "class" => "series").group_by { |g| g["data-log"] }
    assert_equal ["worker-0 (10)", "worker-1 (11)", "worker-2 (12)"], by_log.keys.sort
    colours = by_log.transform_values { |gs| gs.map { |g| g.child("path")["stroke"] }.uniq }
    assert(colours.values.all? { |c| c.size == 1 }, "one colour per log")
    assert_equal 3, colours.values.flatten.uniq.size
    assert_equal 3, doc.all("g", "class" => "band").size
    assert_equal "memwatch: 3 processes", texts(doc, "title").first
  end

  def test_png_through_gnuplot_and_the_gnuplot_script
    skip "gnuplot not installed" unless system("which gnuplot > /dev/null 2>&1")

    log = MemwatchSynth.ruby_leak(File.join(@dir, "leak.tsv"), n: 120)
    png = File.join(@dir, "leak.png")
    script = File.join(@dir, "leak.gp")
    code, _, err = cli("plot", log, "-o", png, "--gnuplot", script)
    assert_equal 0, code, err
    assert_equal "\x89PNG".b, File.binread(png, 4)
    text = File.read(script)
    assert_match(/^set output "#{Regexp.escape(png)}"$/, text)
    assert_match(/^\$data0 << EOD$/, text)
    assert_match(/^set xdata time$/, text)
    File.delete(png)
    assert system("gnuplot", script), "the written script runs on its own"
    assert File.size?(png)
  end

  def test_svg_to_stdout_and_last
    log = MemwatchSynth.ruby_leak(File.join(@dir, "leak.tsv"), n: 360)
    code, out, = cli("plot", log, "-o", "-", "--last", "10m")
    assert_equal 0, code
    doc = MiniSVG.new(out)
    assert_match(/\(10m 00s\)/, texts(doc, "subtitle").first)
  end

  def test_host_log_has_a_host_panel_and_a_process_panel
    MemwatchSynthHost.write(@dir, n: 240, slab_mib_per_hour: 200, leak_mib_per_hour: 100)
    out = File.join(@dir, "host.svg")
    code, _, err = cli("plot", @dir, "-o", out)
    assert_equal 0, code, err
    doc = svg_doc(out)
    assert_equal 2, doc.all("rect", "class" => "panel").size
    assert_equal "memwatch: host synth", texts(doc, "title").first
    assert_match(/outside any process/, texts(doc, "verdict").first)
    logs = doc.all("g", "class" => "series").map { |g| g["data-log"] }
    assert_includes logs, "host"
    assert_includes logs, "300 ruby leaky_worker.rb"
    assert_equal "300 ruby leaky_worker.rb", logs.reject { |l| l == "host" }.first, "fastest grower first"
  end

  def test_bad_arguments
    log = MemwatchSynth.plateau(File.join(@dir, "p.tsv"), n: 10)
    [[["plot", log, "-o", File.join(@dir, "x.jpg")], /output must end in \.svg or \.png/],
     [["plot", log, "--columns", "old_objects", "-o", File.join(@dir, "x.svg")], /--columns takes byte columns/],
     [["plot", log, "--last", "ages"], /invalid argument: --last ages/],
     [["plot"], /plot: missing LOG/],
     [["plot", File.join(@dir, "missing.tsv")], /missing\.tsv: cannot read/],
     [["plot", log, "-o", File.join(@dir, "no", "such", "dir.svg")], /dir\.svg: cannot write/]].each do |argv, message|
      code, _, err = cli(*argv)
      assert_equal 2, code, argv.inspect
      assert_one_error_line(err, message)
    end
  end

  def test_png_without_gnuplot_is_a_clear_error
    log = MemwatchSynth.plateau(File.join(@dir, "p.tsv"), n: 10)
    code, _, err = exe("plot", log, "-o", File.join(@dir, "p.png"), env: { "PATH" => "/nonexistent" })
    assert_equal 2, code
    assert_one_error_line(err, /PNG output needs gnuplot \(apt-get install gnuplot-nox\)/)
  end

  def test_the_svg_reader_is_strict
    assert_raises(ArgumentError) { MiniSVG.new(%(<svg><g></svg>)) }
    assert_raises(ArgumentError) { MiniSVG.new(%(<svg x=1></svg>)) }
    assert_equal "a<b", MiniSVG.new(%(<svg><text class="t">a&lt;b</text></svg>)).texts("t").first
  end

  def test_time_ticks_fall_on_clock_boundaries
    ticks = Memwatch::Plot::Axis.time(1_795_247_003.0, 1_795_247_003.0 + 3 * 3600)
    assert(ticks.all? { |t| ((t.value + Time.at(t.value).utc_offset) % 1800).zero? })
    assert_equal Time.at(ticks.first.value).strftime("%b %-d"), ticks.first.date
    assert(ticks.drop(1).all? { |t| t.date.nil? || t.label == "00:00" })
  end
end
