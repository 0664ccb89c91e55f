# frozen_string_literal: true

require_relative "test_helper"
require "zlib"
require "memwatch/log_reader"
require_relative "fixtures/logs/cli_support"
require_relative "fixtures/logs/synth"

class TestLogReader < Minitest::Test
  include CliSupport
  Reader = Memwatch::LogReader

  def fixture(name) = File.join(FIXTURES, name)

  def test_metadata_columns_and_typed_values
    r = Reader.new(fixture("small.tsv"))
    assert_equal({ pid: 4242, ppid: 1, ruby: "3.1.2", allocator: "glibc", memwatch: "0.1.0", schema: 1,
                   interval: 1.0, started: "2026-11-21T09:48:26Z", label: "worker-0" }, r.metadata)
    assert_equal %i[type tick count rss_bytes pss_bytes gc_age_seconds verdict leak_bytes_per_hour], r.columns
    rows = r.to_a
    assert_equal 3, rows.size
    first, second, third = rows
    assert_equal "sample", first[:type]
    assert_in_delta 1_795_247_527.123, first[:tick], 1e-6
    assert_kind_of Float, first[:tick]
    assert_equal 104_857_600, first[:rss_bytes]
    assert_kind_of Integer, first[:rss_bytes]
    assert_nil first[:pss_bytes], "an empty field is nil"
    assert_nil first[:verdict]
    assert_in_delta 0.012, first[:gc_age_seconds]
    assert_equal 94_371_840, second[:pss_bytes]
    assert_equal "insufficient_data", second[:verdict]
    assert_nil third[:gc_age_seconds], "NaN reads as nil"
    assert_equal 3_600_000, third[:leak_bytes_per_hour]
    assert_empty r.warnings
  end

  def test_streams_with_each
    r = Reader.new(fixture("small.tsv"))
    ticks = []
    assert_same r, r.each { |s| ticks << s[:tick] }
    assert_equal 3, ticks.size
    assert_kind_of Enumerator, r.each
  end

  def test_truncated_last_line_is_a_warning_not_an_error
    r = Reader.new(fixture("truncated.tsv"))
    rows = r.to_a
    assert_equal [1000], rows.map { |s| s[:rss_bytes] }
    assert_equal 1, r.warnings.size
    assert_match(/truncated\.tsv:5: truncated last line ignored/, r.warnings.first)
  end

  def test_errors_name_file_and_line
    {
      "short_row.tsv" => /short_row\.tsv:5: expected 4 fields, found 3\z/,
      "not_a_number.tsv" => /not_a_number\.tsv:4: column rss_bytes: not a number: "lots"\z/,
      "not_memwatch.csv" => /not_memwatch\.csv:1: not a memwatch log/
    }.each do |name, message|
      e = assert_raises(Reader::Error) { Reader.read(fixture(name)) }
      assert_match message, e.message
      assert_equal fixture(name), e.file
      assert_kind_of Integer, e.line
    end
  end

  def test_unreadable_inputs
    Dir.mktmpdir do |dir|
      e = assert_raises(Reader::Error) { Reader.read(File.join(dir, "missing.tsv")) }
      assert_equal "#{dir}/missing.tsv: cannot read: No such file or directory", e.message
      e = assert_raises(Reader::Error) { Reader.read(dir) }
      assert_match(/is a directory/, e.message)
      File.write(File.join(dir, "empty.tsv"), "")
      e = assert_raises(Reader::Error) { Reader.read(File.join(dir, "empty.tsv")) }
      assert_match(/empty\.tsv: empty file/, e.message)
      File.binwrite(File.join(dir, "bad.tsv.gz"), "not gzip at all")
      assert_raises(Reader::Error) { Reader.read(File.join(dir, "bad.tsv.gz")) }
    end
  end

  def test_hex_and_garbage_are_not_numbers
    Dir.mktmpdir do |dir|
      path = File.join(dir, "x.tsv")
      File.write(path, "type\ttick\trss_bytes\nsample\t1.0\t0x1A\n")
      assert_raises(Reader::Error) { Reader.read(path) }
      File.write(path, "type\ttick\trss_bytes\nsample\t1.0\t010\n")
      assert_equal 10, Reader.read(path).first[:rss_bytes], "decimal, not octal"
    end
  end

  def test_rotated_set_is_read_oldest_first_in_any_order
    files = %w[rot.tsv rot.tsv.2 rot.tsv.1].map { |f| fixture(f) }
    assert_equal [1, 2, 3, 4, 5], Reader.new(files).map { |s| s[:rss_bytes] }
    assert_equal %w[rot.tsv.2 rot.tsv.1 rot.tsv], Reader.rotated_set(fixture("rot.tsv")).map { |f| File.basename(f) }
    groups = Reader.group([fixture("rot.tsv.1"), fixture("small.tsv"), fixture("rot.tsv")])
    assert_equal [%w[rot.tsv.1 rot.tsv], %w[small.tsv]], groups.map { |g| g.map { |f| File.basename(f) } }.sort
  end

  def test_gzip_and_repeated_headers
    Dir.mktmpdir do |dir|
      path = File.join(dir, "x.tsv.gz")
      Zlib::GzipWriter.open(path) { |gz| gz.write(File.read(fixture("small.tsv"))) }
      assert_equal 3, Reader.read(path).size
      both = File.join(dir, "both.tsv")
      File.write(both, File.read(fixture("rot.tsv.1")) + File.read(fixture("rot.tsv")))
      assert_equal [3, 4, 5], Reader.read(both).map { |s| s[:rss_bytes] }, "a reopened log repeats # lines and header"
    end
  end

  def test_synthetic_log_with_every_gc_stat_key
    Dir.mktmpdir do |dir|
      path = MemwatchSynth.ruby_leak(File.join(dir, "leak.tsv"), n: 50)
      r = Reader.new(path)
      rows = r.to_a
      assert_equal 50, rows.size
      assert_equal MemwatchSynth.columns("glibc"), r.columns
      GC.stat.each_key { |k| assert_kind_of Integer, rows.last[k], k }
    end
  end

  # The real sampler's log, written by a child process, reads back with the contract's types.
  def test_real_sampler_log
    skip "native extension not built (rake compile)" unless native_built?

    Dir.mktmpdir do |dir|
      log = File.join(dir, "real.tsv")
      script = %(Memwatch.start(interval: 0.05, log: #{log.inspect}); a = []; 20.times { a << "x" * 100_000; sleep 0.05 }; Memwatch.stop)
      _, err, status = Open3.capture3(RbConfig.ruby, "-I", LIB, "-rmemwatch", "-e", script)
      assert status.success?, err
      r = Reader.new(log)
      rows = r.to_a
      assert_operator rows.size, :>=, 5
      assert_equal %i[type tick], r.columns.first(2)
      assert_kind_of Integer, r.metadata[:pid]
      assert(rows.all? { |s| s[:type] == "sample" && s[:tick].is_a?(Float) && s[:rss_bytes].is_a?(Integer) })
      assert_operator rows.last[:rss_bytes], :>, 1024 * 1024
    end
  end
end
