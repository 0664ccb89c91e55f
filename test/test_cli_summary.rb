# frozen_string_literal: true

require_relative "test_helper"
require_relative "fixtures/logs/cli_support"
require_relative "fixtures/logs/synth"
require "memwatch/cli/verdicts"

class TestCLISummary < Minitest::Test
  include CliSupport
  MIB = MemwatchSynth::MIB

  def setup
    @dir = Dir.mktmpdir
  end

  def teardown
    FileUtils.rm_rf(@dir)
  end

  def test_text_summary_of_a_leaking_log
    log = MemwatchSynth.ruby_leak(File.join(@dir, "leak.tsv"), n: 360, label: "worker-0")
    code, out, err = cli("summary", log)
    assert_includes [0, 1, 3], code, err
    assert_match(/label worker-0  pid 4242  ruby #{RUBY_VERSION}  allocator glibc/, out)
    assert_match(/\(59m 50s\), 360 samples, interval 10.0s/, out)
    rss = out.lines.find { |l| l.start_with?("RSS ") }
    assert_equal ["RSS", "80.0", "MiB", "262.5", "MiB", "80.0", "MiB", "267.0", "MiB", "+180.0", "MiB/h"], rss.split
    assert_match(/^Ruby heap\s+20\.0 MiB\s+145\.0 MiB/, out)
    assert_match(/^glibc in use\s+30\.0 MiB/, out)
    assert_match(/^verdict: \S/, out)
  end

  def test_the_attribution_log_beside_a_log_is_summarised_and_skipped_as_a_log
    log = MemwatchSynth.ruby_leak(File.join(@dir, "memwatch-1.tsv"), n: 60)
    cols = %w[tick route requests retained_bytes_per_request retained_bytes_per_request_se
              allocated_objects_per_request t confidence suspect]
    File.write(File.join(@dir, "memwatch-1.attribution.tsv"),
               "# memwatch attribution log\n#{cols.join("\t")}\n" \
               "100.0\tGET /old\t5\t1\t1\t1\t1.0\tlow\t0\n" \
               "160.0\tGET /leak\t900\t20480\t300\t12\t68.3\thigh\t1\n160.0\tGET /\t800\t10\t90\t40\t0.1\tlow\t0\n")
    code, out, err = cli("summary", @dir) # the directory: the sidecar is not read as a sample log
    assert_includes [0, 1, 3], code, err
    assert_match(/^routes by retained bytes per request \(attribution log/, out)
    assert_match(%r{^  SUSPECT GET /leak  20480 B/request ± 300, 900 requests, high$}, out)
    assert_match(%r{^          GET /  10 B/request}, out)
    refute_match(%r{GET /old}, out, "only the latest minute")
    doc = JSON.parse(cli("summary", "--json", log)[1])
    assert_equal "GET /leak", doc["logs"].first["attribution"].first["route"]
    File.write(File.join(@dir, "memwatch-1.attribution.tsv"), "garbage\n")
    code, out, err = cli("summary", log)
    assert_includes [0, 1, 3], code
    assert_match(/warning: attribution log skipped: .*not a memwatch attribution log/, err)
    refute_match(/routes by retained/, out)
  end

  def test_json_summary_and_exit_code_agree_with_the_verdict
    log = MemwatchSynth.ruby_leak(File.join(@dir, "leak.tsv"), n: 360)
    code, out, = cli("summary", "--json", log)
    doc = JSON.parse(out)
    assert_equal code, doc["exit_code"]
    entry = doc["logs"].first
    assert_equal 360, entry["samples"]
    assert_in_delta 3590.0, entry["duration_seconds"]
    assert_equal({ "first" => 80 * MIB, "last" => 262.5 * MIB, "min" => 80 * MIB, "max" => 267 * MIB, "per_hour" => 180 * MIB },
                 entry["figures"]["rss_bytes"])
    assert_equal 4242, entry["metadata"]["pid"]
    refute_nil entry["verdict"], "a verdict (the classifier's, or the one the process logged)"
    assert_equal code, entry["exit_code"]
    assert_includes [0, 1, 3], code
  end

  def test_logged_verdict_is_the_fallback_without_a_classifier
    rows = [{ tick: 1.0, verdict: nil }, { tick: 2.0, verdict: "native" }, { tick: 3.0, verdict: nil }]
    v = Memwatch::CLI::Verdicts.logged(rows)
    assert_equal "native", v.kind
    assert_equal 1, v.exit_code
    assert_equal 0, Memwatch::CLI::Verdicts.logged([{ tick: 1.0, verdict: "none" }]).exit_code
    assert_equal 3, Memwatch::CLI::Verdicts.logged([{ tick: 1.0, verdict: "insufficient_data" }]).exit_code
    assert_nil Memwatch::CLI::Verdicts.logged([{ tick: 1.0, verdict: nil }])
  end

  def test_too_few_samples_is_insufficient_data
    log = MemwatchSynth.plateau(File.join(@dir, "short.tsv"), n: 3) { {} }
    code, out, = cli("summary", log)
    assert_equal 3, code, out
  end

  def test_malformed_log_is_one_line_with_file_and_line_and_exit_2
    bad = File.join(FIXTURES, "not_a_number.tsv")
    code, out, err = cli("summary", bad)
    assert_equal 2, code
    assert_empty out
    assert_one_error_line(err, /\Amemwatch: #{Regexp.escape(bad)}:4: column rss_bytes: not a number: "lots"$/)
  end

  def test_missing_file_and_missing_argument
    code, _, err = cli("summary", File.join(@dir, "nope.tsv"))
    assert_equal 2, code
    assert_one_error_line(err, /nope\.tsv: cannot read: No such file or directory/)
    code, _, err = cli("summary")
    assert_equal 2, code
    assert_one_error_line(err, /summary: missing LOG/)
    code, _, err = cli("summary", @dir)
    assert_equal 2, code
    assert_one_error_line(err, /no memwatch logs/)
  end

  def test_truncated_log_warns_and_still_summarises
    code, out, err = cli("summary", File.join(FIXTURES, "truncated.tsv"))
    refute_equal 2, code
    assert_match(/warning: .*truncated\.tsv:5: truncated last line ignored/, err)
    assert_match(/1 samples/, out)
  end

  def test_several_logs_and_a_directory
    MemwatchSynth.ruby_leak(File.join(@dir, "memwatch-w0-1.tsv"), n: 60, pid: 1)
    MemwatchSynth.plateau(File.join(@dir, "memwatch-w1-2.tsv"), n: 60, pid: 2)
    code, out, = cli("summary", "--json", @dir)
    doc = JSON.parse(out)
    assert_equal [1, 2], doc["logs"].map { |l| l.dig("metadata", "pid") }.sort
    assert_equal code, doc["exit_code"]
    worst = [2, 1, 3].find { |c| doc["logs"].map { |l| l["exit_code"] }.include?(c) } || 0
    assert_equal worst, code
  end

  def test_one_bad_log_among_good_ones_exits_2_but_prints_the_others
    good = MemwatchSynth.plateau(File.join(@dir, "good.tsv"), n: 30)
    code, out, err = cli("summary", good, File.join(FIXTURES, "short_row.tsv"))
    assert_equal 2, code
    assert_match(/log #{Regexp.escape(good)}/, out)
    assert_match(/short_row\.tsv:5: expected 4 fields/, err)
  end

  def test_bad_classifier_option
    log = MemwatchSynth.plateau(File.join(@dir, "p.tsv"), n: 30)
    code, _, err = cli("summary", "-c", "nonsense", log)
    assert_equal 2, code
    assert_one_error_line(err, /invalid argument: -c nonsense/)
  end

  def test_real_sampler_log
    skip "native extension not built (rake compile)" unless native_built?

    log = File.join(@dir, "real.tsv")
    script = %(Memwatch.start(interval: 0.05, log: #{log.inspect}); sleep 0.6; Memwatch.stop)
    _, e, s = Open3.capture3(RbConfig.ruby, "-I", LIB, "-rmemwatch", "-e", script)
    assert s.success?, e
    code, out, err = exe("summary", "--json", log)
    assert_includes [0, 1, 3], code, err
    fig = JSON.parse(out)["logs"].first["figures"]
    assert_operator fig["rss_bytes"]["min"], :>, 1024 * 1024
    assert fig.key?("ruby_heap_bytes")
  end
end
