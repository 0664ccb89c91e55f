# frozen_string_literal: true

require_relative "../test_helper"
require_relative "../support/puma_server"
require_relative "png"
require "json"
require "open3"
require "socket"
require "zlib"

# End to end: a real Puma on 127.0.0.1 serving memwatch's endpoint, driven by curl, raw
# sockets and a headless Chromium. Set MEMWATCH_SKIP_E2E=1 to skip (e.g. under valgrind);
# MEMWATCH_SCREENSHOT=path keeps the dashboard screenshot.
module EndpointE2E
  TOKEN = "e2e-token-#{Random.new_seed.to_s(36)}"
  CHROMIUM = "/usr/bin/chromium"
  RACKUP = <<~'RUBY'
    require "memwatch"
    Memwatch.start(interval: 0.1)
    $kept = Array.new(50_000) { |i| "e2e-kept-#{i}" }
    $marker = +"e2e-marker-#{ENV.fetch("MARKER")}"
    use Memwatch::Middleware, path: "/open", token_env: nil     # loopback only, no token
    map "/memwatch" do
      run Memwatch::App.new(token_file: ENV.fetch("TOKEN_FILE"), token_env: nil, dumps: true,
                            dump_cooldown: 0, dump_dir: ENV.fetch("DUMP_DIR"))
    end
    map "/" do
      run ->(_env) { [200, { "content-type" => "text/plain" }, ["hello from #{Process.pid}\n"]] }
    end
  RUBY

  def setup
    skip "MEMWATCH_SKIP_E2E is set" if ENV["MEMWATCH_SKIP_E2E"] == "1"
    @tmp = Dir.mktmpdir("memwatch-e2e-")
    File.write(token_file = File.join(@tmp, "token"), TOKEN)
    @marker = rand(1 << 40).to_s(36)
    env = { "TOKEN_FILE" => token_file, "MARKER" => @marker, "DUMP_DIR" => File.join(@tmp, "dumps") }
    @server = PumaServer.new(rackup: RACKUP, env: env, workers: self.class::WORKERS).start
  end

  def teardown
    @server&.stop
    FileUtils.rm_rf(@tmp) if @tmp
  end

  def curl(*args)
    out, err, status = Open3.capture3("curl", "-sS", "--max-time", "120", *args, stdin_data: "")
    assert status.success?, "curl #{args.join(" ")}: #{err}"
    out
  end

  def auth = ["-H", "Authorization: Bearer #{TOKEN}"]

  def test_a_real_heap_dump_streams_from_a_forked_child_and_parses
    path = File.join(@tmp, "heap.ndjson")
    headers = curl(*auth, "-X", "POST", "-D", "-", "-o", path, @server.url("/memwatch/heap_dump"))
    assert_match(%r{\AHTTP/1\.1 200}, headers)
    manifest = JSON.parse(headers[/^x-memwatch-manifest: (.*)\r$/i, 1])
    objects = File.foreach(path).map { |line| JSON.parse(line) }
    assert_operator objects.size, :>, 50_000
    assert(objects.any? { |o| o["type"] == "STRING" && o["value"] == "e2e-marker-#{@marker}" })
    assert(objects.all? { |o| o["type"].is_a?(String) })
    assert_equal File.size(path), manifest["bytes"]
    gz = File.join(@tmp, "heap.ndjson.gz")
    curl(*auth, "-X", "POST", "-o", gz, @server.url("/memwatch/heap_dump?gzip=1"))
    first = Zlib::GzipReader.open(gz) { |z| z.each_line.first(3) }
    first.each { |line| assert_equal "ROOT", JSON.parse(line)["type"] }
    plain = curl(*auth, "-X", "POST", "--compressed", @server.url("/memwatch/heap_dump"))
    assert_operator plain.lines.size, :>, 50_000, "Content-Encoding: gzip, decoded by curl"
    assert_equal 200, @server.get("/memwatch/health", "Authorization" => "Bearer #{TOKEN}").code.to_i
  end

  private


  def raw_request(raw)
    Socket.tcp("127.0.0.1", @server.port, connect_timeout: 5) do |s|
      s.write(raw) # no half-close: Puma 8 takes it for a client that went away
      line = s.wait_readable(30) && s.gets
      line.to_s[%r{\AHTTP/1\.[01] (\d{3})}, 1].to_i
    end
  end

  def chromium(*args)
    profile = Dir.mktmpdir("chromium-", @tmp)
    cmd = ["timeout", "--kill-after=5", "90", CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
           "--disable-background-networking", "--disable-component-update", "--disable-sync",
           "--user-data-dir=#{profile}", *args]
    out, err, status = Open3.capture3(*cmd, stdin_data: "")
    assert status.success?, "chromium failed: #{err.lines.last(5).join}"
    out
  end
end

# Single mode: everything, including a real browser.
class TestEndpointPuma < Minitest::Test
  include EndpointE2E
  WORKERS = 0

  def test_curl_status_with_and_without_the_token
    code = curl("-o", File::NULL, "-w", "%{http_code}", @server.url("/memwatch/status"))
    assert_equal "401", code
    doc = JSON.parse(curl(*auth, @server.url("/memwatch/status")))
    assert_equal RUBY_VERSION, doc["memwatch"]["ruby"]
    assert_equal true, doc["memwatch"]["running"]
    assert_operator doc["latest"]["rss_bytes"], :>, 1 << 20
    assert_equal "hello from #{doc["memwatch"]["pid"]}\n", curl(@server.url("/")), "other requests pass through"
    assert_equal "ok", JSON.parse(curl(@server.url("/open/health")))["status"], "middleware, no token"
  end

  def test_malformed_requests_on_the_wire_get_4xx_and_the_server_keeps_serving
    ["GET /memwatch/status?%zz HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer #{TOKEN}\r\nConnection: close\r\n\r\n",
     "GET /open/samples?limit=-5 HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n",
     "POST /open/gc HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 5\r\nConnection: close\r\n\r\nhello",
     "GET /open/status HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Forwarded-For: 1.2.3.4\r\nConnection: close\r\n\r\n",
     "DELETE /memwatch/status HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n",
     "\x00\x01\x02 garbage\r\n\r\n"].each do |raw|
      status = raw_request(raw)
      assert_includes 400..499, status, raw.inspect
    end
    assert_equal 200, @server.get("/open/status").code.to_i
  end

  def test_the_dashboard_renders_in_a_headless_browser
    skip "no #{CHROMIUM}" unless File.executable?(CHROMIUM)
    deadline = Process.clock_gettime(Process::CLOCK_MONOTONIC) + 30
    until JSON.parse(@server.get("/open/samples").body)["rows"].size >= 5
      flunk "no samples after 30 s" if Process.clock_gettime(Process::CLOCK_MONOTONIC) > deadline
      sleep 0.1
    end
    dom = chromium("--dump-dom", @server.url("/open/"))
    assert_match(/<svg class="chart"/, dom)
    assert_match(/<polyline fill="none" stroke="#2563eb"/, dom)
    assert_includes dom, "Process memory"
    shot = File.join(@tmp, "dashboard.png")
    chromium("--screenshot=#{shot}", "--window-size=1200,900", @server.url("/open/"))
    FileUtils.cp(shot, ENV["MEMWATCH_SCREENSHOT"]) if ENV["MEMWATCH_SCREENSHOT"]
    png = Png.new(File.binread(shot))
    assert_equal [1200, 900], [png.width, png.height]
    assert_operator png.count("f4f5f7"), :>, 50_000, "the page's own style sheet applied (CSP allows it)"
    assert_operator png.count("2563eb", tolerance: 40), :>, 100, "the RSS line is drawn"
  end
end

# A Puma cluster: each worker serves (and dumps) its own process; the master serves nothing.
class TestEndpointPumaCluster < Minitest::Test
  include EndpointE2E
  WORKERS = 2

  def test_workers_answer_with_their_own_pid
    pids = Array.new(12) { @server.get("/open/status")["x-memwatch-pid"] }.uniq
    refute_empty pids
    pids.each { |pid| refute_equal @server.pid.to_s, pid }
  end
end
