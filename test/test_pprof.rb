# frozen_string_literal: true

require_relative "test_helper"
require_relative "fixtures/heap/support"
require "memwatch/endpoint/pprof"

# The native culprit path: jemalloc's heap profile over HTTP, read by the real jeprof.
class TestPprof < Minitest::Test
  include HeapTestSupport

  LEAK_BLOCKS = 96
  LEAK_BYTES = 1 << 20

  def test_jeprof_names_the_leaking_function_first
    skip "jemalloc, jeprof or curl missing" unless tools?
    so = leaky_so
    Dir.mktmpdir("memwatch-pprof-test") do |dir|
      env = { "LD_PRELOAD" => JEMALLOC, "MALLOC_CONF" => "prof:true,lg_prof_sample:10" }
      with_puma(dir, config_ru(so), env: env) do |base|
        url = "#{base}/memwatch/pprof/heap"
        assert_match(/\Aheap_v2\//, get(url).body, "the route serves jemalloc's profile format")
        out, status = capture({ "JEPROF_TMPDIR" => dir }, "jeprof", "--text", RbConfig.ruby, url, timeout: 300)
        assert status.success?, "jeprof failed:\n#{out}"
        assert_equal "memwatch_test_leaky_alloc", top_function(out), "jeprof output:\n#{out}"
      end
    end
  end

  def test_native_profile_writes_a_file_jeprof_reads
    skip "jemalloc missing" unless File.exist?(JEMALLOC)
    Dir.mktmpdir("memwatch-prof") do |dir|
      path = File.join(dir, "leak.heap")
      script = "require 'memwatch/heap/native_profile'; require #{leaky_so.inspect}; " \
               "MemwatchTestLeaky.leak(#{LEAK_BLOCKS}, #{LEAK_BYTES}); p Memwatch.native_profile(#{path.inspect})"
      env = child_env("LD_PRELOAD" => JEMALLOC, "MALLOC_CONF" => "prof:true,lg_prof_sample:10")
      out, status = capture(env, RbConfig.ruby, "-e", script, timeout: 60)
      assert status.success?, out
      assert_equal path.inspect, out.lines.last.chomp
      assert_match(/\Aheap_v2\//, File.read(path))
      assert_includes File.read(path), "MAPPED_LIBRARIES", "jeprof needs the mappings to symbolize"
    end
  end

  # Whatever the suite runs under (glibc, or jemalloc without prof:true), this process
  # cannot profile: the answer explains how to enable it and is not a 500.
  def test_unavailable_profiling_answers_how_to_enable_it
    skip "this process runs jemalloc with profiling" if Memwatch::Heap::NativeProfile.status[:available]
    status, headers, body = Memwatch::Endpoint::Pprof.new.call("REQUEST_METHOD" => "GET", "PATH_INFO" => "/")
    assert_equal 501, status
    assert_equal "application/json; charset=utf-8", headers["content-type"]
    text = body.join
    assert_includes text, "LD_PRELOAD="
    assert_includes text, "MALLOC_CONF=prof:true"
    error = assert_raises(Memwatch::Heap::NativeProfile::Unavailable) { Memwatch.native_profile("/tmp/never.heap") }
    assert_includes error.message, "MALLOC_CONF=prof:true"
    refute File.exist?("/tmp/never.heap")
  end

  def test_only_get
    status, headers, = Memwatch::Endpoint::Pprof.new.call("REQUEST_METHOD" => "POST", "PATH_INFO" => "/")
    assert_equal 405, status
    assert_equal "GET, HEAD", headers["allow"]
  end

  private

  def tools?
    File.exist?(JEMALLOC) && system("command -v jeprof curl addr2line >/dev/null 2>&1")
  end

  def config_ru(so)
    <<~RUBY
      require "memwatch/endpoint/pprof"
      require #{so.inspect}
      MemwatchTestLeaky.leak(#{LEAK_BLOCKS}, #{LEAK_BYTES})
      map("/ping") { run ->(_env) { [200, { "content-type" => "text/plain" }, ["ok"]] } }
      map("/memwatch/pprof/heap") { run Memwatch::Endpoint::Pprof.new }
    RUBY
  end

  # jeprof --text rows: "  flat  flat%  sum%  cum  cum%  function"; the first row is the top.
  def top_function(out)
    row = out.lines.find { |l| l =~ /\A\s*[\d.]+\s+[\d.]+%\s+[\d.]+%\s+[\d.]+\s+[\d.]+%\s+\S/ }
    row&.split&.last
  end
end
