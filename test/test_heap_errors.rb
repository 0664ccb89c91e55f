# frozen_string_literal: true

require_relative "test_helper"
require_relative "fixtures/heap/synth"
require "memwatch/heap"
require "memwatch/cli"
require "stringio"
require "zlib"

# Bad input: a clear error with the file and line, exit status 2, never a crash.
class TestHeapErrors < Minitest::Test
  GOOD = %({"address":"0x7f01", "type":"STRING", "class":"0x7f02", "memsize":40}\n)

  def setup
    @dir = Dir.mktmpdir("memwatch-heap-errors")
  end

  def teardown
    FileUtils.rm_rf(@dir)
  end

  def test_malformed_line_is_reported_with_its_number
    file = write("bad.json", GOOD * 2 + %({"address":"0x7f03", "type":"STRING" "memsize":40}\n) + GOOD)
    assert_error(file, 3, /malformed JSON/)
    _, err, code = cli("heap", "summary", file)
    assert_equal 2, code
    assert_match(/\Amemwatch: #{Regexp.escape(file)}:3: malformed JSON/, err)
  end

  def test_dump_cut_inside_a_line
    text = HeapSynth.new(objects: 2000).write(write("full.json", "")) && File.read(File.join(@dir, "full.json"))
    cut = text.index("\n", text.size / 2) + 30
    file = write("cut.json", text[0, cut])
    assert_error(file, text[0, cut].count("\n") + 1, /truncated: the dump ends inside this line/)
  end

  def test_gzip_cut_short
    full = File.join(@dir, "full.json.gz")
    HeapSynth.new(objects: 20_000).write(full, gzip: true)
    file = write("cut.json.gz", File.binread(full)[0, File.size(full) / 2])
    error = assert_raises(Memwatch::Heap::FormatError) { Memwatch::Heap.summary(file) }
    assert_match(/truncated or corrupt gzip data/, error.reason)
    assert_operator error.line, :>, 1
  end

  def test_json_that_is_not_a_heap_dump
    assert_error(write("array.json", "[1, 2]\n"), 1, /expected one JSON object/)
    assert_error(write("notype.json", GOOD + %({"address":"0x1"}\n)), 2, /no "type"/)
    assert_error(write("noaddr.json", %({"type":"STRING"}\n)), 1, /no "address"/)
    assert_error(write("log.tsv", "# memwatch log\ntype\ttick\n"), 1, /malformed JSON/)
  end

  def test_a_line_past_max_line_bytes
    long = %({"address":"0x7f04", "type":"ARRAY", "references":[#{Array.new(200) { '"0x7f05"' }.join(", ")}]}\n)
    file = write("long.json", GOOD + long)
    assert_error(file, 2, /longer than 1024 bytes/, max_line_bytes: 1024)
    assert_equal 2, Memwatch::Heap.summary(file).objects
  end

  # A class address below the type-id range must not be read as a type id
  # (that indexed past the type table): it is counted under the object's type.
  def test_a_crafted_low_class_address_is_not_a_type_id
    low = %({"address":"0x7f01", "type":"STRING", "class":"0x10", "memsize":40}\n)
    summary = Memwatch::Heap.summary(write("low.json", low * 3 + GOOD))
    assert_equal 4, summary.objects
    assert_includes summary.by_class.map(&:key), "(STRING)"
    assert_equal 3, summary.by_class.find { |r| r.key == "(STRING)" }.count
  end

  def test_blank_lines_and_a_missing_final_newline_are_fine
    assert_equal 2, Memwatch::Heap.summary(write("ok.json", GOOD + "\n  \n" + GOOD.chomp)).objects
  end

  def test_missing_files_and_bad_arguments
    _, err, code = cli("heap", "summary", File.join(@dir, "nope.json"))
    assert_equal [2, "memwatch: #{File.join(@dir, "nope.json")}: no such file\n"], [code, err]
    assert_equal 2, cli("heap")[2]
    assert_equal 2, cli("heap", "frobnicate", "x")[2]
    assert_equal 2, cli("heap", "diff", "a", "b")[2]
    assert_equal 2, cli("heap", "summary", "a", "--top", "0")[2]
    assert_raises(ArgumentError) { Memwatch::Heap.summary(write("x.json", GOOD), max_keys: 0) }
    assert_raises(ArgumentError) { Memwatch::Heap.summary(write("x.json", GOOD), frobs: 1) }
  end

  def test_diff_reports_which_dump_is_bad
    good = write("good.json", GOOD)
    bad = write("bad.json", "{oops\n")
    error = assert_raises(Memwatch::Heap::FormatError) { Memwatch::Heap.diff(good, bad, good) }
    assert_equal [bad, 1], [error.path, error.line]
  end

  private

  def write(name, text)
    path = File.join(@dir, name)
    File.binwrite(path, text)
    path
  end

  def assert_error(file, line, reason, **opts)
    error = assert_raises(Memwatch::Heap::FormatError) { Memwatch::Heap.summary(file, **opts) }
    assert_equal [file, line], [error.path, error.line], error.message
    assert_match reason, error.reason
  end

  def cli(*argv)
    out = StringIO.new
    err = StringIO.new
    code = Memwatch::CLI.run(argv, out: out, err: err)
    [out.string, err.string, code]
  end
end
