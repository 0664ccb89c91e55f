# frozen_string_literal: true

require_relative "test_helper"
require "memwatch"
require "json"

class TestLog < Minitest::Test
  def teardown = Memwatch.stop

  def start_logging(dir, **opts)
    Memwatch.start(interval: 0.02, log: dir, **opts)
    sleep 0.05 until Memwatch.stats[:ticks] >= 5
    Memwatch.log_path
  end

  def test_log_layout_metadata_header_and_rows
    Dir.mktmpdir do |dir|
      path = start_logging(dir, label: "web-1")
      Memwatch.stop
      assert_equal File.join(dir, "memwatch-web-1-#{Process.pid}.tsv"), path
      lines = File.readlines(path, chomp: true)
      meta = lines.take_while { |l| l.start_with?("#") }
      %W[# memwatch\ log # pid:\ #{Process.pid} # ruby:\ #{RUBY_VERSION} # allocator:\ #{Memwatch.allocator}
         # schema:\ 1 # interval:\ 0.02 # label:\ web-1].each_slice(2) { |a, b| assert_includes meta, "#{a} #{b}" }
      header = lines[meta.size].split("\t")
      assert_equal %w[type tick], header.first(2)
      assert_equal GC.stat.keys.map(&:to_s), header[2, GC.stat.keys.size], "GC.stat keys as the running Ruby names them"
      assert_equal Memwatch.columns.map(&:to_s), header
      rows = lines.drop(meta.size + 1).map { |l| l.split("\t", -1) }
      assert_operator rows.size, :>=, 5
      rows.each do |row|
        assert_equal header.size, row.size, "every row has every column (no trailing tab)"
        assert_equal "sample", row[0]
        assert_match(/\A\d+\.\d{3}\z/, row[1])
      end
      rss = rows.map { |r| r[header.index("rss_bytes")] }
      assert(rss.all? { |v| v.match?(/\A\d+\z/) })
    end
  end

  def test_rotation_rewrites_metadata_and_header
    Dir.mktmpdir do |dir|
      path = File.join(dir, "mw.tsv")
      Memwatch.start(interval: 0.01, log: path, log_max_bytes: 4000, log_keep: 2)
      sleep 0.05 until File.exist?("#{path}.2")
      Memwatch.stop
      [path, "#{path}.1", "#{path}.2"].each do |file|
        lines = File.readlines(file)
        assert_equal "# memwatch log\n", lines.first
        header = lines.find { |l| !l.start_with?("#") }
        assert header.start_with?("type\ttick\t")
        assert_operator File.size(file), :<=, 4000
      end
      refute File.exist?("#{path}.3"), "log_keep bounds the rotated files"
    end
  end

  def test_existing_file_is_rotated_away_not_mixed
    Dir.mktmpdir do |dir|
      path = File.join(dir, "mw.tsv")
      File.write(path, "old data\n")
      start_logging(path)
      Memwatch.stop
      assert_equal "old data\n", File.read("#{path}.1")
      assert_equal "# memwatch log\n", File.readlines(path).first
    end
  end

  def test_reopen_log_after_external_rotation
    Dir.mktmpdir do |dir|
      path = start_logging(dir)
      File.rename(path, "#{path}.old")
      Memwatch.reopen_log
      sleep 0.05 until File.exist?(path) && File.readlines(path).size > 12
      assert_equal "# memwatch log\n", File.readlines(path).first
      assert_operator File.readlines("#{path}.old").size, :>, 12
    end
  end

  def test_log_to_an_io
    Dir.mktmpdir do |dir|
      File.open(File.join(dir, "io.tsv"), "w") do |io|
        start_logging(io)
        Memwatch.stop
      end
      lines = File.readlines(File.join(dir, "io.tsv"))
      assert_equal "# memwatch log\n", lines.first
      assert_operator lines.count { |l| l.start_with?("sample\t") }, :>=, 5
    end
  end

  def test_write_errors_warn_and_sampling_continues
    skip "/dev/full missing" unless File.exist?("/dev/full")
    File.open("/dev/full", "w") do |io|
      assert_raises(Memwatch::Error) { Memwatch.start(interval: 0.02, log: io) } # the preamble fails at start
    end
    refute Memwatch.running?
  end

  def test_gnuplot_reads_the_log
    gnuplot = ENV["PATH"].split(":").map { |d| File.join(d, "gnuplot") }.find { |f| File.executable?(f) }
    skip "gnuplot not installed" unless gnuplot
    Dir.mktmpdir do |dir|
      path = start_logging(dir)
      Memwatch.stop
      col = Memwatch.columns.index(:rss_bytes) + 1
      png = File.join(dir, "rss.png")
      script = <<~GP
        set terminal pngcairo size 640,360
        set output "#{png}"
        set datafile separator "\\t"
        set xdata time
        set timefmt "%s"
        plot "#{path}" using 2:($#{col}/1048576) with lines title "RSS MiB"
      GP
      out = IO.popen([gnuplot], "r+", err: %i[child out]) { |io| io.write(script); io.close_write; io.read }
      assert $?.success?, out
      assert_operator File.size(png), :>, 1000
      assert_equal "\x89PNG".b, File.binread(png, 4)
    end
  end

  # The README's promise: pandas.read_csv(sep="\t", comment="#") reads the log as it is.
  PANDAS = <<~'PY'
    import json, sys
    import pandas as pd
    df = pd.read_csv(sys.argv[1], sep="\t", comment="#")
    t = pd.to_datetime(df["tick"], unit="s")
    print(json.dumps({"columns": list(df.columns), "rows": len(df), "types": sorted(set(df["type"])),
                      "rss_numeric": bool(pd.api.types.is_numeric_dtype(df["rss_bytes"])),
                      "rss_min": float(df["rss_bytes"].min()), "span": (t.max() - t.min()).total_seconds()}))
  PY

  # Debian's python3-pandas lives with Debian's python3 (a pyenv or venv python3 on
  # PATH would not see it).
  PYTHON = File.executable?("/usr/bin/python3") ? "/usr/bin/python3" : "python3"

  def test_pandas_reads_the_log
    skip "python3 with pandas not installed (apt-get install python3-pandas)" unless system(PYTHON, "-c", "import pandas", err: File::NULL)
    Dir.mktmpdir do |dir|
      path = start_logging(dir)
      Memwatch.stop
      rows = File.readlines(path).count { |l| l.start_with?("sample\t") }
      out = IO.popen([PYTHON, "-c", PANDAS, path], err: %i[child out], &:read)
      assert $?.success?, out
      got = JSON.parse(out)
      assert_equal Memwatch.columns.map(&:to_s), got["columns"]
      assert_equal [rows, ["sample"], true], got.values_at("rows", "types", "rss_numeric")
      assert_operator got["rss_min"], :>, 0
      assert_operator got["span"], :>, 0
    end
  end
end
