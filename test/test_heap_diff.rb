# frozen_string_literal: true

require_relative "test_helper"
require_relative "fixtures/heap/support"
require "memwatch/heap"
require "memwatch/cli"
require "json"
require "stringio"

# The Ruby culprit path: a script with a planted leak takes dumps A, B, C; the three-dump
# diff must name the leaking line first, and not the line that was merely alive in B.
class TestHeapDiff < Minitest::Test
  SCRIPT = File.expand_path("fixtures/heap/leak_script.rb", __dir__)
  LEAK_LINE = File.readlines(SCRIPT).index { |l| l.include?("# LEAK_LINE") } + 1
  TRANSIENT_LINE = File.readlines(SCRIPT).index { |l| l.include?("# TRANSIENT_LINE") } + 1

  # The scenario runs once per mode (a Ruby child each) and is shared by the tests.
  def self.dumps(mode)
    @dumps ||= {}
    @dumps[mode] ||= begin
      dir = Dir.mktmpdir("memwatch-heap-diff")
      Minitest.after_run { FileUtils.rm_rf(dir) }
      out, status = HeapTestSupport.capture({}, RbConfig.ruby, SCRIPT, dir, *mode, timeout: 120)
      raise "leak script failed:\n#{out}" unless status.success?

      %w[a b c].map { |n| File.join(dir, "#{n}.json#{mode.include?("gzip") ? ".gz" : ""}") }
    end
  end

  def test_retained_names_the_leaking_line_first
    diff = Memwatch::Heap.diff(*self.class.dumps([]))
    top = diff.retained.first
    assert_equal "#{SCRIPT}:#{LEAK_LINE}", top.location
    assert_equal [["String", 1000]], top.classes.map { |c| [c.key, c.count] }, "exactly the planted objects"
    assert_equal :generation, diff.identity
    assert_equal :inferred, diff.threshold_source
    assert_equal 1, diff.caveats.size, "only: the GC counts were inferred"
    refute(diff.retained.any? { |s| s.line == TRANSIENT_LINE && s.classes.any? { |c| c.key == "String" } })
  end

  # Without dump C, the transient line (3000 objects alive in B) would come first.
  def test_allocated_alone_would_blame_the_transient_line
    diff = Memwatch::Heap.diff(*self.class.dumps([]))
    assert_equal "#{SCRIPT}:#{TRANSIENT_LINE}", diff.allocated(sort: :count).first.location
  end

  def test_cli_diff_text_and_json_on_gzip_dumps
    a, b, c = self.class.dumps(%w[gzip manifest])
    out, err, code = cli("heap", "diff", a, b, c, "--top", "3")
    assert_equal 0, code, err
    first_row = out.lines.find { |l| l.include?("leak_script.rb:") }
    assert_includes first_row, "leak_script.rb:#{LEAK_LINE}"
    assert_includes first_row, "String ×1,000"

    out, err, code = cli("heap", "diff", a, b, c, "--json", "--sort", "count")
    assert_equal 0, code, err
    doc = JSON.parse(out)
    assert_equal "heap_diff", doc["kind"]
    assert_equal ["manifest", []], [doc["thresholds_from"], doc["caveats"]]
    assert_equal [SCRIPT, LEAK_LINE], doc["retained_sites"].first.values_at("file", "line")
  end

  def test_cli_summary_of_a_real_dump
    a, = self.class.dumps(%w[gzip manifest])
    out, err, code = cli("heap", "summary", a, "--json", "--top", "5")
    assert_equal 0, code, err
    doc = JSON.parse(out)
    assert_operator doc["objects"], :>, 1000
    assert_equal 5, doc["by_class"].size
    assert_includes doc["by_class"].map { |r| r["key"] }, "String"
  end

  private

  def cli(*argv)
    out = StringIO.new
    err = StringIO.new
    code = Memwatch::CLI.run(argv, out: out, err: err)
    [out.string, err.string, code]
  end
end
