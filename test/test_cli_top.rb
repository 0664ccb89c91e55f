# frozen_string_literal: true

require_relative "test_helper"
require_relative "fixtures/logs/cli_support"
require_relative "fixtures/logs/synth_host"

# `memwatch top` on synthetic host logs (written by the recorder's own writer); the real
# recorder on this host is tested in test_cli_record.rb.
class TestCLITop < Minitest::Test
  include CliSupport

  def setup
    @dir = Dir.mktmpdir
  end

  def teardown
    FileUtils.rm_rf(@dir)
  end

  def test_kernel_slab_growth_is_reported_outside_any_process
    MemwatchSynthHost.write(@dir, n: 240, slab_mib_per_hour: 200)
    code, out, err = cli("top", @dir)
    assert_equal 1, code, err
    assert_match(/^verdict: host memory grows \+\d+\.\d MiB\/h outside any process, mostly kernel slab, unreclaimable/, out)
    refute_match(/verdict:.*process \d+ /, out, "no process is blamed")
    doc = JSON.parse(cli("top", "--json", @dir)[1])
    assert doc["host"]["outside_process_growth"]
    assert_in_delta 200 * 1024 * 1024, doc["host"]["outside_processes"]["bytes_per_hour"], 2 * 1024 * 1024
    assert_in_delta 200 * 1024 * 1024, doc["host"]["components"]["host_sunreclaim_bytes"]["bytes_per_hour"], 1024 * 1024
    assert(doc["processes"].none? { |p| p["growing"] })
  end

  def test_the_leaking_process_is_ranked_first
    MemwatchSynthHost.write(@dir, n: 240, leak_mib_per_hour: 100)
    code, out, = cli("top", @dir)
    assert_equal 1, code
    first = out.lines.find { |l| l.match?(/^\s*1\s/) }
    assert_match(/\A1\s+300\s+\+100\.0 MiB\/h .* ruby leaky_worker\.rb$/, first.strip)
    assert_match(/^verdict: process 300 \(ruby leaky_worker\.rb\) grows \+100\.0 MiB\/h$/, out)
    doc = JSON.parse(cli("top", "--json", @dir)[1])
    assert_equal 300, doc["processes"].first["pid"]
    refute doc["host"]["outside_process_growth"], "the leak is inside a process"
    startup = doc["processes"].find { |p| p["pid"] == 400 }
    refute startup["growing"], "a start-up burst is not a leak"
  end

  def test_quiet_host_exits_0_and_limit_applies
    MemwatchSynthHost.write(@dir, n: 240)
    code, out, = cli("top", "--limit", "2", @dir)
    assert_equal 0, code, out
    assert_match(/^verdict: no process and no host-level memory grows$/, out)
    assert_equal 2, out.lines.count { |l| l.match?(/^\s*\d+\s+\d+\s/) }
    assert_equal 2, JSON.parse(cli("top", "--json", "-n", "2", @dir)[1])["processes"].size
  end

  def test_too_few_samples_is_insufficient_data
    MemwatchSynthHost.write(@dir, n: 2)
    code, out, = cli("top", @dir)
    assert_equal 3, code
    assert_match(/insufficient data/, out)
  end

  def test_summary_judges_a_host_log_like_top
    MemwatchSynthHost.write(@dir, n: 240, slab_mib_per_hour: 200)
    code, out, = cli("summary", @dir)
    assert_equal 1, code
    assert_match(/^host slab unreclaimable\s+100\.0 MiB\s+166\.4 MiB.*\+200\.0 MiB\/h$/, out)
    assert_match(/^verdict: outside_process \(host memory grows/, out)
  end

  def test_errors
    code, _, err = cli("top", File.join(FIXTURES, "small.tsv"))
    assert_equal 2, code
    assert_one_error_line(err, /not a `memwatch record --all` log/)
    code, _, err = cli("top", File.join(@dir, "nothing-here"))
    assert_equal 2, code
    assert_one_error_line(err, /cannot read: No such file or directory/)
    code, _, err = cli("top", "-n", "many", @dir)
    assert_equal 2, code
    assert_one_error_line(err, /invalid argument: -n many/)
    code, _, err = cli("top", "--limit", "0", @dir)
    assert_equal 2, code
    assert_one_error_line(err, /invalid argument: --limit 0/)
  end
end
