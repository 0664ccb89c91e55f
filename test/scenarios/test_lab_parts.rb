# frozen_string_literal: true

require_relative "../test_helper"
require "json"
require "open3"
require "rack/mock"
require_relative "support"
$LOAD_PATH.unshift(LeakLab.build_ext)
require "leaklab"
require_relative "lab/app"
require_relative "lab/catalog"
require_relative "lab/signature"

# The leak lab's own parts, quickly: the scenario app's routes and input
# checks, the native helper, the driver against a real Puma, and the slope
# arithmetic the signatures rely on. (The scenarios themselves: test_scenarios.rb.)
class TestLabParts < Minitest::Test
  def request(path)
    Rack::MockRequest.new(LeakLab::App.new).get(path)
  end

  def test_every_catalog_route_answers
    LeakLab::CATALOG.each_value do |s|
      path = s.name == "threads" ? "/threads?p=0" : s.path # no thread leaked into the test process
      res = request(path)
      assert_equal 200, res.status, "#{path}: #{res.body}"
      assert_match(/\A\d+\n\z/, res.body)
    end
  end

  def test_bad_input_gets_a_clear_400_or_404
    assert_equal 404, request("/nope").status
    { "/native?kb=-1" => /kb must be in/, "/native?kb=abc" => /invalid value/,
      "/native?bogus=1" => /unknown parameter: bogus/, "/threads?p=2" => /p must be in/ }.each do |path, msg|
      res = request(path)
      assert_equal 400, res.status, path
      assert_match msg, res.body
    end
  end

  def test_pace_keeps_the_leak_rate_when_requests_come_late
    request("/native?kb=1&pace=10") # starts the route's clock
    sleep 0.5                        # a late request owes >= 0.5 s x 10/s x 1 KiB
    before = LeakLab.native_leaked.first
    assert_equal 200, request("/native?kb=1&pace=10").status
    assert_operator LeakLab.native_leaked.first - before, :>=, 5 * 1024
  end

  def test_native_leak_is_malloced_and_touched
    before_bytes, before_blocks = LeakLab.native_leaked
    LeakLab.native_leak(4096)
    assert_equal [before_bytes + 4096, before_blocks + 1], LeakLab.native_leaked
    assert_raises(ArgumentError) { LeakLab.native_leak(0) }
    # RSS in a fresh process: this one may reuse pages it freed earlier
    code = "r = ->{ File.read('/proc/self/status')[/RssAnon:\\s+(\\d+)/, 1].to_i }; " \
           "a = r.(); LeakLab.native_leak(32 << 20); print r.() - a"
    out, st = Open3.capture2(RbConfig.ruby, "-I", LeakLab.build_ext, "-rleaklab", "-e", code)
    assert st.success?
    assert_operator out.to_i, :>=, 30 << 10, "32 MiB malloc + memset must become RSS (KiB: #{out})"
  end

  def test_probe_reads_exactly_one_allocator
    s = LeakLab::Probe.sample(walk: true)
    assert_operator s[:rss], :>, 0
    assert(s.key?(:je_allocated) ^ s.key?(:gl_in_use), "one allocator's figures: #{s.keys}")
    assert_operator s[:ruby_malloc], :>, 0
  end

  def test_theil_sen_ignores_outliers_and_check_reads_specs
    pts = (0...30).map { |i| [i.to_f, 2.0 * i] }
    pts[7][1] = 500.0
    assert_in_delta 2.0, LeakLab::Signature.theil_sen(pts), 1e-9
    rows = (0...40).map { |i| { t: 1000.0 + i * 6, rss: (100 + i) * 1_048_576, threads: 10 } }
    sig = LeakLab::Signature.new(rows, skip: 0)
    assert_in_delta 10.0, sig.slopes[:rss][:whole], 1e-6 # 1 MB per 6 s
    assert_empty sig.check("rss" => 5.., "threads@delta" => ..0)
    assert_equal 1, sig.check("rss|threads" => 50..).size
  end

  def test_driver_loads_a_real_puma_and_rejects_bad_arguments
    _, err, st = Open3.capture3(RbConfig.ruby, File.join(LeakLab::ROOT, "drive.rb"), "--url", "http://example.com/")
    assert_equal 2, st.exitstatus
    assert_match(/drive\.rb: /, err)
    Dir.mktmpdir("memwatch-lab-parts-") do |dir|
      server = LeakLab::Server.new(dir, env: { "LEAKLAB_EXT_DIR" => LeakLab.build_ext }).start
      begin
        out, _, st = Open3.capture3(RbConfig.ruby, File.join(LeakLab::ROOT, "drive.rb"), "--url",
                                    server.url("/steady"), "--rps", "20", "--duration", "2")
        summary = JSON.parse(out)
        assert st.success?, out
        assert_operator summary["ok"], :>=, 30
      ensure
        assert server.stop, "puma stopped"
      end
    end
  end
end
