# frozen_string_literal: true

require_relative "test_helper"
require_relative "fixtures/logs/cli_support"

# `memwatch doctor` checks the real environment it runs in, so it runs as a subprocess with
# the environment under test (LD_PRELOAD, MEMWATCH_LOG).
class TestCLIDoctor < Minitest::Test
  include CliSupport
  JEMALLOC = "/usr/lib/x86_64-linux-gnu/libjemalloc.so.2"

  def setup
    skip "native extension not built (rake compile)" unless native_built?
    @dir = Dir.mktmpdir
  end

  def teardown
    FileUtils.rm_rf(@dir) if @dir
  end

  def checks(code_and_out)
    JSON.parse(code_and_out[1])["checks"].to_h { |c| [c["name"], c] }
  end

  def test_reports_each_area_with_a_fix_for_each_problem
    code, out, err = exe("doctor", "--json", "--log-dir", @dir, env: { "LD_PRELOAD" => nil })
    assert_equal 0, code, err
    doc = JSON.parse(out)
    names = doc["checks"].map { |c| c["name"] }
    %w[ruby platform extension allocator /proc cgroup GC.stat gnuplot].each { |n| assert_includes names, n }
    assert(doc["checks"].all? { |c| %w[ok warn fail].include?(c["status"]) && !c["detail"].empty? })
    assert(doc["checks"].reject { |c| c["status"] == "ok" }.all? { |c| c["fix"].to_s.size > 10 }, "every problem has a fix")
    assert_equal "ok", checks([code, out])["log directory"]["status"]
    allocator = checks([code, out])["allocator"]
    assert_equal "warn", allocator["status"], "glibc: coarse allocator figures"
    assert_match(/LD_PRELOAD=/, allocator["fix"])
  end

  def test_jemalloc_profiling_advice
    skip "libjemalloc2 not installed" unless File.exist?(JEMALLOC)

    result = exe("doctor", "--json", env: { "LD_PRELOAD" => JEMALLOC, "MALLOC_CONF" => nil })
    c = checks(result)
    assert_equal "ok", c["allocator"]["status"]
    assert_match(/MALLOC_CONF=prof:true/, c["jemalloc profiling"]["fix"])
    c = checks(exe("doctor", "--json", env: { "LD_PRELOAD" => JEMALLOC, "MALLOC_CONF" => "prof:true,prof_active:false" }))
    assert_equal "ok", c["jemalloc profiling"]["status"]
  end

  def test_unwritable_log_directory_fails_with_exit_2
    code, out, = exe("doctor", "--log-dir", File.join(@dir, "missing"))
    assert_equal 2, code
    assert_match(/^  FAIL  log directory\s+#{Regexp.escape(@dir)}\/missing does not exist$/, out)
    assert_match(/fix: mkdir -p #{Regexp.escape(@dir)}\/missing$/, out)
    assert_match(/^1 failed, \d+ warnings?, \d+ ok$/, out)
  end

  def test_log_directory_from_the_environment
    c = checks(exe("doctor", "--json", env: { "MEMWATCH_LOG" => @dir }))
    assert_equal "ok", c["log directory"]["status"]
    assert_match(/#{Regexp.escape(@dir)} writable/, c["log directory"]["detail"])
  end
end
