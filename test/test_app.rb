# frozen_string_literal: true

require_relative "test_helper"
require_relative "e2e/endpoint_helper"
require "memwatch/log_reader"

# The read routes and the GC/purge/tracing actions, through Rack::Lint, on the real sampler.
class TestApp < Minitest::Test
  include EndpointHelper

  def setup
    start_sampler
    @app = build_app(token: TOKEN, tracing: true)
    @s = session(@app)
    @s.header("Authorization", "Bearer #{TOKEN}")
  end

  def teardown
    Memwatch::Endpoint::Tracing.stop
    stop_sampler
    cleanup_dump_dir
  end

  def test_status_has_the_process_the_config_the_latest_sample_and_the_verdict
    @s.get("/status")
    assert_equal 200, @s.last_response.status
    assert_equal "application/json; charset=utf-8", @s.last_response.content_type
    doc = json(@s.last_response)
    assert_equal Process.pid, doc["memwatch"]["pid"]
    assert_equal RUBY_VERSION, doc["memwatch"]["ruby"]
    assert_equal Memwatch::VERSION, doc["memwatch"]["version"]
    assert_equal Memwatch.allocator, doc["allocator"]["name"]
    assert_equal true, doc["memwatch"]["running"]
    assert_in_delta 0.05, doc["config"]["interval"], 1e-9
    assert_operator doc["latest"]["rss_bytes"], :>, 1 << 20
    assert doc.key?("verdict")
    assert_equal({ "auth" => "token", "dumps" => false, "tracing" => true }, doc["endpoint"].slice("auth", "dumps", "tracing"))
    assert_equal "no-store", @s.last_response.headers["cache-control"]
    assert_equal "nosniff", @s.last_response.headers["x-content-type-options"]
    assert_equal Process.pid.to_s, @s.last_response.headers["x-memwatch-pid"]
  end

  def test_status_shows_the_verdict_the_periodic_hook_made
    stop_sampler # no periodic run may replace the verdict set here
    verdict = Memwatch::Verdict.new(kind: "native", level: :suspected, confidence: 0.7,
                                    rates: { "rss" => 3_600_000 }, explanation: "allocated grows")
    Memwatch::Runner.verdict = verdict
    @app = build_app(token: TOKEN)
    @s = session(@app)
    @s.get("/status", {}, bearer)
    assert_equal verdict.to_h, json(@s.last_response)["verdict"]
  ensure
    Memwatch::Runner.verdict = nil
  end

  def test_samples_json_since_and_limit
    wait_until("3 samples") { Memwatch.samples.size >= 3 }
    @s.get("/samples?limit=2")
    doc = json(@s.last_response)
    assert_equal Memwatch.columns.map(&:to_s), doc["columns"]
    assert_equal 2, doc["rows"].size
    tick = doc["columns"].index("tick")
    assert_operator doc["rows"][0][tick], :<, doc["rows"][1][tick]
    @s.get("/samples?since=#{doc["rows"][0][tick]}&resolution=all")
    later = json(@s.last_response)["rows"]
    refute_empty later
    assert(later.all? { |r| r[tick] > doc["rows"][0][tick] })
  end

  def test_samples_tsv_is_the_log_format_and_logreader_reads_it
    wait_until("5 samples") { Memwatch.samples.size >= 5 }
    @s.get("/samples.tsv?limit=5")
    assert_equal 200, @s.last_response.status
    assert_equal "text/tab-separated-values; charset=utf-8", @s.last_response.content_type
    lines = @s.last_response.body.lines
    assert_equal "# memwatch log\n", lines.first
    header = lines.find { |l| !l.start_with?("#") }
    assert_equal Memwatch.columns.join("\t") + "\n", header
    Dir.mktmpdir do |dir|
      path = File.join(dir, "x.tsv")
      File.write(path, @s.last_response.body)
      reader = Memwatch::LogReader.new([path])
      rows = reader.to_a
      assert_equal Process.pid, reader.metadata[:pid]
      assert_equal 5, rows.size
      assert_operator rows.last[:rss_bytes], :>, 1 << 20
      assert_empty reader.warnings
    end
  end

  def test_health_snapshot_and_head
    @s.get("/health")
    assert_equal({ "status" => "ok", "pid" => Process.pid, "version" => Memwatch::VERSION }, json(@s.last_response))
    @s.get("/snapshot")
    assert_equal Process.pid, json(@s.last_response)["memwatch"]["pid"]
    @s.head("/status")
    assert_equal 200, @s.last_response.status
    assert_equal "", @s.last_response.body
    stop_sampler
    @s.get("/health")
    assert_equal 503, @s.last_response.status
    assert_equal "stopped", json(@s.last_response)["status"]
  end

  def test_unknown_routes_404_wrong_methods_405_bad_parameters_400
    @s.get("/nope")
    assert_equal 404, @s.last_response.status
    @s.get("/gc")
    assert_equal 405, @s.last_response.status
    assert_equal "POST", @s.last_response.headers["allow"]
    @s.post("/status")
    assert_equal 405, @s.last_response.status
    assert_equal "GET, HEAD", @s.last_response.headers["allow"]
    @s.custom_request("DELETE", "/status")
    assert_equal 405, @s.last_response.status
    { "/samples?limit=0" => /limit="0" is not an integer in 1..1000000/, "/samples?limit=abc" => /limit=/,
      "/samples?resolution=weekly" => /one of recent, long, all/, "/samples?since=-1" => /since=/,
      "/status?x=1" => /unknown parameter "x" \(known: none\)/, "/samples?limit=1&limit=2" => /given twice/ }.each do |path, reason|
      @s.get(path)
      assert_equal 400, @s.last_response.status, path
      assert_match reason, json(@s.last_response)["error"], path
      assert_equal 1, @s.last_response.body.lines.size, "one line"
    end
  end

  def test_gc_and_purge_actions_report_before_and_after_and_are_audited
    @s.post("/gc?full=1")
    assert_equal 200, @s.last_response.status
    gc = json(@s.last_response)["gc"]
    assert_operator gc["after"]["count"], :>, gc["before"]["count"]
    assert_operator gc["after"]["major_gc_count"], :>, gc["before"]["major_gc_count"]
    @s.post("/purge")
    purge = json(@s.last_response)["purge"]
    assert_equal Memwatch.allocator, purge["allocator"]
    assert_kind_of Integer, purge["rss_before_bytes"]
    assert_match(%r{remote=127\.0\.0\.1 pid=\d+ auth=token POST /gc -> 200 full=true}, log_text)
    assert_match(%r{POST /purge -> 200 released_bytes=-?\d+}, log_text)
  end

  def test_tracing_is_time_boxed_and_states_its_cost
    compacting = GC.auto_compact
    @s.post("/tracing/start?seconds=1")
    doc = json(@s.last_response)
    assert_equal 200, @s.last_response.status
    assert doc["tracing"]["active"]
    assert_match(/6-14x slower/, doc["cost"])
    assert_equal compacting, doc["tracing"]["auto_compact_paused"], "compaction would drop allocation info"
    refute GC.auto_compact
    obj = Object.new
    assert_equal [__FILE__, __LINE__ - 1], [ObjectSpace.allocation_sourcefile(obj), ObjectSpace.allocation_sourceline(obj)]
    wait_until("the deadline stops tracing", timeout: 10) { !Memwatch::Endpoint::Tracing.state[:active] }
    assert_equal compacting, GC.auto_compact, "restored"
    late = Object.new # the slot may hold stale info from a freed object, but not this line's
    refute_equal [__FILE__, __LINE__ - 1], [ObjectSpace.allocation_sourcefile(late), ObjectSpace.allocation_sourceline(late)]
    @s.post("/tracing/start?seconds=100000")
    assert_equal 400, @s.last_response.status
    @s.post("/tracing/start?seconds=60")
    @s.post("/tracing/stop")
    assert_equal true, json(@s.last_response)["stopped"]
    refute json(@s.last_response)["tracing"]["active"]
  end

  def test_dashboard_is_self_contained_html_with_svg_charts
    wait_until("3 samples") { Memwatch.samples.size >= 3 }
    @s.get("/")
    r = @s.last_response
    assert_equal 200, r.status
    assert_equal "text/html; charset=utf-8", r.content_type
    assert_match(/default-src 'none'/, r.headers["content-security-policy"])
    refute_match(/<script|src="http|href="http|@import/, r.body)
    assert_operator r.body.scan("<svg class=\"chart\"").size, :>=, 3
    assert_match(/<polyline fill="none" stroke="#2563eb"[^>]* points="[\d., ]+"/, r.body)
    assert_includes r.body, "Process memory"
    assert_match(%r{<section class="verdict (info|ok|warn|bad)"><div class="tag">verdict</div><h2>[^<]+</h2>}, r.body)
  end

  def test_links_follow_script_name_and_output_is_escaped
    @s.get("/", {}, "SCRIPT_NAME" => "/ops/mw\"<x>", "HTTP_HOST" => "localhost")
    body = @s.last_response.body
    assert_includes body, %(href="/ops/mw&quot;&lt;x&gt;/status")
    refute_includes body, "<x>"
  end

  def test_the_middleware_serves_its_path_and_passes_everything_else_untouched
    seen = []
    inner = ->(env) { seen << env.values_at("SCRIPT_NAME", "PATH_INFO"); [200, { "content-type" => "text/plain" }, ["inner"]] }
    mw = Memwatch::Middleware.new(inner, path: "/ops/memwatch", token_env: nil, logger: Logger.new(StringIO.new))
    s = session(mw)
    s.get("/ops/memwatch/status", {}, "SCRIPT_NAME" => "/app")
    assert_equal Process.pid, json(s.last_response)["memwatch"]["pid"]
    s.get("/ops/memwatch", {}, "SCRIPT_NAME" => "/app")
    assert_includes s.last_response.body, %(href="/app/ops/memwatch/status")
    %w[/ /ops/memwatchers /ops/memwatch.json /ops].each { |path| s.get(path, {}, "SCRIPT_NAME" => "/app") }
    assert_equal [["/app", "/"], ["/app", "/ops/memwatchers"], ["/app", "/ops/memwatch.json"], ["/app", "/ops"]], seen
    assert_equal "inner", s.last_response.body
  end

  def test_the_class_itself_is_a_mountable_loopback_only_app
    env = Rack::MockRequest.env_for("http://localhost/health", "REMOTE_ADDR" => "127.0.0.1")
    skip "MEMWATCH_TOKEN is set in this environment" if ENV["MEMWATCH_TOKEN"] || ENV["MEMWATCH_TOKEN_FILE"]
    _, err = capture_io do # the default app logs to $stderr
      status, _, body = Rack::Lint.new(Memwatch::App).call(env)
      assert_equal [200, "ok"], [status, JSON.parse(body.enum_for(:each).to_a.join)["status"]]
      body.close
      env = Rack::MockRequest.env_for("http://localhost/health", "REMOTE_ADDR" => "10.0.0.1")
      assert_equal 403, Memwatch::App.call(env)[0]
    end
    assert_match(/denied remote=10\.0\.0\.1/, err)
  end

  def test_responses_follow_the_rack3_rules_on_the_raw_triple
    app = Rack::Lint.new(@app)
    %w[/ /status /samples /samples.tsv /health /snapshot /nope].each do |path|
      env = Rack::MockRequest.env_for("http://localhost#{path}", "REMOTE_ADDR" => "127.0.0.1", **bearer)
      status, headers, body = app.call(env)
      assert_kind_of Integer, status
      refute headers.frozen?
      headers.each { |k, v| assert_equal [k.downcase, String], [k, v.class], path }
      body.each { |chunk| assert_kind_of String, chunk }
      body.close
    end
  end
end
