# frozen_string_literal: true

require_relative "test_helper"
require_relative "fixtures/heap/support"
require "memwatch/cli"
require "stringio"
require "json"

# The guided workflow end to end: a real Puma app leaking on a known line, memwatch's
# endpoint mounted with dumps and tracing allowed, and `memwatch heap capture` taking the
# three dumps through it and naming the line.
class TestHeapCapture < Minitest::Test
  include HeapTestSupport

  TOKEN = "capture-test-token-0123456789"

  CONFIG_RU = <<~'RUBY'
    require "memwatch"
    require "memwatch/app"
    $leak = []
    leak = ->(_env) { 50.times { |i| $leak << "leaked-by-request-#{i}" * 8 }; [200, { "content-type" => "text/plain" }, ["ok"]] } # LEAK
    map("/ping") { run ->(_env) { [200, { "content-type" => "text/plain" }, ["ok"]] } }
    map("/leak") { run leak }
    map("/memwatch") { run Memwatch::App.new(token: ENV.fetch("TEST_TOKEN"), dumps: true, tracing: true, dump_cooldown: 0) }
  RUBY

  def test_capture_names_the_leaking_line
    Dir.mktmpdir("memwatch-capture") do |dir|
      dir = ENV["KEEP_DIR"] if ENV["KEEP_DIR"]
      with_puma(dir, CONFIG_RU, env: { "TEST_TOKEN" => TOKEN }) do |base|
        load = Thread.new { drive(base, Process.clock_gettime(Process::CLOCK_MONOTONIC) + 60) }
        out, err, code = cli("heap", "capture", "#{base}/memwatch", "-o", File.join(dir, "dumps"), "--every", "2", "--top", "3")
        load.kill
        assert_equal 0, code, err
        assert_includes err, "allocation tracing on"
        %w[a b c].each { |n| assert_equal 0o600, File.stat(File.join(dir, "dumps", "#{n}.json.gz")).mode & 0o777 }
        first = out.lines.find { |l| l =~ /\A\s+[\d,]+\s+\S+ \S+\s+\S+:\d+/ }
        assert_includes first, "#{File.join(dir, "config.ru")}:4", out
        $stderr.puts out, err if ENV["MEMWATCH_TEST_VERBOSE"]
      end
    end
  end

  # The same workflow done by the worker: POST heap_capture, poll GET heap_capture.
  def test_the_endpoint_captures_and_diffs_by_itself
    Dir.mktmpdir("memwatch-capture") do |dir|
      with_puma(dir, CONFIG_RU, env: { "TEST_TOKEN" => TOKEN }) do |base|
        load = Thread.new { drive(base, Process.clock_gettime(Process::CLOCK_MONOTONIC) + 60) }
        started = request(base, :post, "/memwatch/heap_capture?every=2&top=3")
        assert_equal 202, started.code.to_i, started.body
        assert_equal "running", JSON.parse(started.body)["capture"]["status"]
        assert_equal 409, request(base, :post, "/memwatch/heap_capture?every=2").code.to_i, "one at a time"
        assert_equal 401, request(base, :get, "/memwatch/heap_capture", token: nil).code.to_i
        capture = poll_capture(base)
        load.kill
        assert_equal "done", capture["status"], capture.inspect
        assert_equal 3, capture["dumps_taken"]
        assert capture["tracing"], "tracing was allowed, so the dumps carry allocation sites"
        top = capture["report"]["retained_sites"].first
        assert_equal [File.join(dir, "config.ru"), 4], [top["file"], top["line"]], capture["report"].inspect
        dump_dir = File.join(Dir.tmpdir, "memwatch-#{Process.uid}") # the app's default dump_dir
        refute File.exist?(File.join(dump_dir, "capture-#{capture["id"]}")), "the dumps (secrets) are deleted"
      end
    end
  end

  private

  def request(base, verb, path, token: TOKEN)
    uri = URI("#{base}#{path}")
    req = verb == :post ? Net::HTTP::Post.new(uri) : Net::HTTP::Get.new(uri)
    req["authorization"] = "Bearer #{token}" if token
    Net::HTTP.start(uri.host, uri.port, read_timeout: 30) { |http| http.request(req) }
  end

  def poll_capture(base)
    deadline = Process.clock_gettime(Process::CLOCK_MONOTONIC) + 120
    loop do
      capture = JSON.parse(request(base, :get, "/memwatch/heap_capture").body)["capture"]
      return capture if capture["status"] != "running" || Process.clock_gettime(Process::CLOCK_MONOTONIC) > deadline
      sleep 0.5
    end
  end

  def drive(base, deadline)
    uri = URI("#{base}/leak")
    Net::HTTP.start(uri.host, uri.port, read_timeout: 30) do |http|
      while Process.clock_gettime(Process::CLOCK_MONOTONIC) < deadline
        http.get(uri.path)
        sleep 0.05
      end
    end
  rescue StandardError
    nil
  end

  def cli(*argv)
    out = StringIO.new
    err = StringIO.new
    old = ENV["MEMWATCH_TOKEN"]
    ENV["MEMWATCH_TOKEN"] = TOKEN
    code = Memwatch::CLI.run(argv, out: out, err: err)
    [out.string, err.string, code]
  ensure
    ENV["MEMWATCH_TOKEN"] = old
  end
end
