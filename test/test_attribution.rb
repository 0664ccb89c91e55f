# frozen_string_literal: true

require_relative "test_helper"
require "open3"
require "json"
require "memwatch/attribution"
require "memwatch"

# Per-request attribution without a server: route keys, the bounded table, the
# allocation split between overlapping requests, the fit, the report and the
# middleware's manners. test_attribution_puma.rb does the real thing under load.
class TestAttribution < Minitest::Test
  A = Memwatch::Attribution

  def setup
    A.configure(interval: 0.05, window: 60)
  end

  def teardown
    A.configure
  end

  def env(path, method: "GET", **extra)
    { "REQUEST_METHOD" => method, "PATH_INFO" => path, "SCRIPT_NAME" => "", "QUERY_STRING" => "" }.merge(extra)
  end

  def test_route_keys_collapse_ids_and_drop_queries
    key = A::RouteKey
    assert_equal "GET /users/:id/posts/:id", key.call(env("/users/42/posts/7"))
    assert_equal "GET /o/:uuid", key.call(env("/o/123e4567-e89b-12d3-a456-426614174000"))
    assert_equal "GET /blob/:hex", key.call(env("/blob/9f86d081884c7d659a2feaa0c55ad015"))
    assert_equal "POST /reset/:token", key.call(env("/reset/abcDEF123ghiJKL456mnoPQR", method: "POST"))
    assert_equal "OTHER /", key.call(env("/", method: "BREW"))
    assert_equal "GET /search", key.call(env("/search", "QUERY_STRING" => "q=1"))
    assert_equal "GET /a/b/c/d/e/f/g/h/...", key.call(env("/a/b/c/d/e/f/g/h/i/j"))
    assert_equal "GET /x/:segment", key.call(env("/x/caf\xC3\xA9".b))
    assert_equal "users#show", key.call(env("/u/1", "action_dispatch.request.path_parameters" => { controller: "users", action: "show" }))
    assert_equal "GET /hi/:name", key.call(env("/hi/bob", "sinatra.route" => "GET /hi/:name"))
  end

  def test_the_route_table_is_bounded
    A.configure(max_routes: 3)
    app = A.new(->(_e) { [200, {}, ["ok"]] })
    10.times { |i| app.call(env("/page#{i}")) }
    routes = A.recorder.snapshot[0].to_h { |r| [r.key, r.requests] }
    assert_equal 4, routes.size, routes.inspect
    assert_equal 7, routes["(other)"], "3 keys of their own, the other 7 requests share one"
  end

  def test_allocations_of_a_request_alone_are_measured
    app = A.new(->(_e) { Array.new(5000) { Object.new }; [200, {}, ["ok"]] })
    3.times { app.call(env("/alloc")) }
    route = A.recorder.snapshot[0].find { |r| r.key == "GET /alloc" }
    assert_equal 3, route.requests
    per = route.allocated / route.requests
    assert_operator per, :>=, 5000
    assert_operator per, :<, 5100
    assert_equal route.allocated.round, route.solo, "a request alone gets every allocation in its span"
  end

  def test_overlapping_requests_share_what_was_allocated_while_both_ran
    gate = Queue.new
    release = Queue.new
    app = A.new(lambda do |e|
      if e["PATH_INFO"] == "/slow"
        gate << true
        release.pop
      else
        Array.new(20_000) { |i| "s#{i}" }
      end
      [200, {}, ["ok"]]
    end)
    before = GC.stat(:total_allocated_objects)
    slow = Thread.new { app.call(env("/slow")) }
    gate.pop
    app.call(env("/fast"))
    release << true
    slow.join(10)
    total = GC.stat(:total_allocated_objects) - before
    routes = A.recorder.snapshot[0].to_h { |r| [r.key, r] }
    fast, waiting = routes.fetch("GET /fast"), routes.fetch("GET /slow")
    assert_operator fast.allocated, :>=, 10_000, "half of the overlap at least"
    assert_operator waiting.allocated, :>=, 10_000, "the waiting request shares the overlap: that is the documented split"
    assert_operator fast.allocated + waiting.allocated, :<=, total
    assert_operator fast.solo, :<, fast.allocated / 2, "almost nothing was measured alone"
  end

  def test_nnls_recovers_known_growth_and_never_goes_negative
    rng = Random.new(7)
    beta = [20_000.0, 0.0, 3_000.0, 0.0]
    rows = Array.new(120) { beta.map { rng.rand(5..60).to_f } + [1.0] }
    y = rows.map { |r| r.first(4).zip(beta).sum { |n, b| n * b } + rng.rand(-40_000.0..40_000.0) }
    fit = A::NNLS.solve(rows, y)
    assert_in_delta 20_000, fit[:x][0], 4 * fit[:se][0]
    assert_in_delta 3_000, fit[:x][2], 4 * (fit[:se][2] || 1000)
    assert(fit[:x].all? { |v| v >= 0 }, fit[:x].inspect)
    assert_operator fit[:x][1], :<, 2000
  end

  # Synthetic readings: growth of 20 KB per /leak request, noise, a drifting mix.
  def test_the_ranking_puts_the_retaining_route_first_and_clean_ones_under_it
    rng = Random.new(3)
    reading = [0.0, 50_000_000, 1_000_000, 100_000, 0, 0, 0, nil]
    intervals = Array.new(60) do |i|
      counts = %w[/leak /a /b /c].to_h { |p| ["GET #{p}", rng.rand(10..(i.even? ? 80 : 30))] }
      nxt = reading.dup
      nxt[0] += 1.0
      nxt[1] += counts["GET /leak"] * 20_000 + rng.rand(-150_000..150_000)
      nxt[3] += rng.rand(-50..50)
      nxt[4] += counts.values.sum * 100
      row = [reading, nxt, counts]
      reading = nxt
      row
    end
    report = A::Ranking.new([], intervals, A.recorder).to_h
    JSON.generate(report) # JSON-friendly
    top = report["routes"].first
    assert_equal "GET /leak", top["route"]
    assert top["suspect"], top.inspect
    assert_in_delta 20_000, top["retained_bytes_per_request"], 3_000
    assert_in_delta 100, top["allocated_objects_per_request"], 10
    assert(report["routes"].drop(1).none? { |r| r["suspect"] }, report["routes"].inspect)
    assert_match(/GET \/leak \(~19|GET \/leak \(~20/, A::Ranking.sentence([top]))
  end

  def test_too_little_data_says_so
    report = A.report
    assert_equal "insufficient_data", report["status"]
    assert_empty report["routes"].select { |r| r["suspect"] }
    assert_nil A.explain
  end

  def test_errors_in_the_app_propagate_and_the_request_is_still_counted
    app = A.new(->(_e) { raise IOError, "boom" })
    assert_raises(IOError) { app.call(env("/fail")) }
    assert_equal 1, A.recorder.snapshot[0].find { |r| r.key == "GET /fail" }.requests
  end

  def test_a_failing_key_extractor_does_not_hurt_the_request
    app = A.new(->(_e) { [200, {}, ["ok"]] }, key: ->(_e) { raise "nope" })
    assert_equal 200, app.call(env("/users/1"))[0]
    odd = A.new(->(_e) { [200, {}, ["ok"]] }, key: ->(_e) { 42 })
    odd.call(env("/users/2"))
    assert_equal 2, A.recorder.snapshot[0].find { |r| r.key == "GET /users/:id" }.requests
    assert_equal 2, A.recorder.errors.values.sum
  end

  def test_bad_options_are_refused_with_the_accepted_range
    assert_raises(ArgumentError) { A.new(->(_e) {}, key: "not callable") }
    e = assert_raises(ArgumentError) { A.configure(interval: 0) }
    assert_match(/interval must be in/, e.message)
    assert_raises(ArgumentError) { A.configure(max_routes: 1) }
    assert_raises(ArgumentError) { A.configure(sample_every: 0) }
    assert_match(/:auto or an Integer/, assert_raises(ArgumentError) { A.configure(sample_every: :sometimes) }.message)
    assert_raises(ArgumentError) { A.configure(colour: 1) }
  end

  # Random, not every Nth: a load cycling through 4 routes must not alias with N = 4.
  # Every request is still counted (the regression needs exact counts).
  def test_sampling_measures_one_request_in_n_at_random_and_counts_all
    A.configure(sample_every: 4)
    app = A.new(->(_e) { [200, {}, ["ok"]] })
    1000.times { |i| app.call(env("/r#{i % 4}")) }
    routes = A.recorder.snapshot[0]
    assert_equal [250] * 4, routes.map(&:seen)
    assert_in_delta 250, routes.sum(&:requests), 75
    routes.each { |r| assert_operator r.requests, :>, 20, "#{r.key} is measured too" }
  end

  # :auto (the default) picks N per interval so ~AUTO_RATE requests a second are measured.
  def test_auto_sampling_follows_the_request_rate
    A.configure(interval: 0.1)
    assert_equal 1, A.recorder.sample_every
    app = A.new(->(_e) { [200, {}, ["ok"]] })
    deadline = Process.clock_gettime(Process::CLOCK_MONOTONIC) + 1.5
    calls = 0
    while Process.clock_gettime(Process::CLOCK_MONOTONIC) < deadline
      app.call(env("/fast"))
      calls += 1
    end
    assert_operator calls, :>, 3000, "this test needs a few thousand requests a second"
    assert_operator A.recorder.sample_every, :>, 5, "#{calls} calls in 1.5 s"
    route = A.recorder.snapshot[0].find { |r| r.key == "GET /fast" }
    assert_operator route.requests, :<, calls / 3, "most requests were not measured"
    assert_equal calls, route.seen, "every request is counted"
    report = A.report
    assert_operator report["sample_every"], :>, 1
    assert(report["notes"].any? { |n| n.include?("chosen at random") }, report["notes"].inspect)
  end

  def test_attribution_log_rows_escape_what_came_from_the_request
    report = { "status" => "ok", "requests" => 10,
               "routes" => [{ "route" => "GET /a\tb\nc", "suspect" => true, "requests" => 10,
                              "retained_bytes_per_request" => 20_480, "retained_bytes_per_request_se" => 100,
                              "allocated_objects_per_request" => 7, "t" => 204.8, "confidence" => "high" }] }
    assert_equal ["1.500\tGET /a\\x09b\\x0ac\t10\t20480\t100\t7\t204.8\thigh\t1\n"],
                 Memwatch::AttributionLog.lines(report, 1.5)
    assert_empty Memwatch::AttributionLog.lines(report.merge("status" => "insufficient_data"), 1.5)
  end

  def test_the_attribution_log_is_a_tsv_beside_the_sample_log_that_reads_back
    Dir.mktmpdir do |dir|
      report = ranked_report
      log = File.join(dir, "memwatch-123.tsv")
      assert_equal 4, Memwatch::AttributionLog.write(report, log)
      assert_equal 4, Memwatch::AttributionLog.write(report, log)
      path = File.join(dir, "memwatch-123.attribution.tsv")
      text = File.read(path)
      assert_equal 1, text.scan(/^tick\troute\t/).size, "one header"
      rows = Memwatch::AttributionLog.read(path)
      assert_equal 8, rows.size
      assert_equal "GET /leak", rows.first[:route]
      assert_equal 1, rows.first[:suspect]
      assert_kind_of Integer, rows.first[:retained_bytes_per_request]
      assert_equal Memwatch::AttributionLog::COLUMNS.map(&:to_sym), rows.first.keys
      # past max_bytes it is rotated once, and starts again with a header
      Memwatch::AttributionLog.write(report, log, max_bytes: 10)
      assert File.exist?("#{path}.1")
      assert_equal 4, Memwatch::AttributionLog.read(path).size
      assert_equal 0, Memwatch::AttributionLog.write(report, nil), "no log path (a log to $stdout): nothing"
    end
  end

  def test_a_running_memwatch_writes_the_attribution_log_beside_its_log
    report = record_four_routes
    Dir.mktmpdir do |dir|
      Memwatch.start(interval: 0.05, log: dir)
      path = Memwatch::AttributionLog.path_for(Memwatch.log_path)
      # The writer runs once a minute on the memwatch-gc thread; an earlier test may
      # have just run it, so run the periodic tasks now rather than wait out the minute.
      Memwatch::Runner.periodic
      Memwatch.stop
      rows = Memwatch::AttributionLog.read(path)
      assert_equal 4, rows.size
      assert_equal report["routes"].map { |r| r["route"] }.sort, rows.map { |r| r[:route] }.sort
      assert_match(/\Amemwatch-#{Process.pid}\.attribution\.tsv\z/, File.basename(path))
    ensure
      Memwatch.stop
    end
  end

  def test_a_bad_attribution_log_is_a_clear_error_with_file_and_line
    Dir.mktmpdir do |dir|
      path = File.join(dir, "x.attribution.tsv")
      File.write(path, "#{Memwatch::AttributionLog::COLUMNS.join("\t")}\n1.0\tGET /\t3\tlots\t1\t1\t1\tlow\t0\n")
      e = assert_raises(Memwatch::LogReader::Error) { Memwatch::AttributionLog.read(path) }
      assert_match(/x\.attribution\.tsv:2: retained_bytes_per_request: not a number: "lots"/, e.message)
      File.write(path, "tick\trss_bytes\n1\t2\n")
      assert_match(/:1: not a memwatch attribution log/, assert_raises(Memwatch::LogReader::Error) { Memwatch::AttributionLog.read(path) }.message)
    end
  end

  # A real recorder's report with a suspect: one route retaining 1,000 small objects a
  # request (~40 KB of heap slots), in a fresh Ruby. (In the suite's own process, after
  # hundreds of tests, neither signal moves within 30 s: RSS stays flat while free heap
  # slots and freed malloc memory are reused, and old objects are mostly read mid-marking
  # of the big heap's incremental major GCs, when they are not used.)
  RANKED_REPORT = <<~'RUBY'
    require "memwatch"
    require "memwatch/attribution"
    require "json"
    A = Memwatch::Attribution
    A.configure(interval: 0.05, window: 60, sample_every: 1)
    keep = []
    app = A.new(->(e) { keep << Array.new(1000) { |i| "retained-#{i}" } if e["PATH_INFO"] == "/leak"; [200, {}, ["ok"]] })
    env = ->(p) { { "REQUEST_METHOD" => "GET", "PATH_INFO" => p, "SCRIPT_NAME" => "", "QUERY_STRING" => "" } }
    deadline = Process.clock_gettime(Process::CLOCK_MONOTONIC) + 30
    loop do
      %w[/leak /a /b /c].each { |p| rand(1..4).times { app.call(env.(p)) } }
      sleep 0.01
      report = A::Ranking.new(*A.recorder.snapshot, A.recorder).to_h
      top = report["routes"].first
      if report["status"] == "ok" && report["routes"].size == 4 && top["route"] == "GET /leak" && top["suspect"]
        print JSON.generate(report)
        exit
      end
      next unless Process.clock_gettime(Process::CLOCK_MONOTONIC) > deadline

      keys = %w[route suspect retained_bytes_per_request retained_bytes_per_request_se old_objects_per_request t evidence]
      abort "no ranking in 30 s: #{report.slice("status", "intervals", "requests", "notes")} " \
            "#{report["routes"].map { |r| r.slice(*keys) }}"
    end
  RUBY

  def ranked_report
    out, err, status = Open3.capture3(RbConfig.ruby, "-I", File.expand_path("../lib", __dir__), "-e", RANKED_REPORT)
    assert status.success?, err
    JSON.parse(out)
  end

  # This process's recorder with four routes and an "ok" ranking (what the periodic
  # writer logs); no suspect needed.
  def record_four_routes
    app = A.new(->(_e) { [200, {}, ["ok"]] })
    deadline = Process.clock_gettime(Process::CLOCK_MONOTONIC) + 30
    loop do
      %w[/leak /a /b /c].each { |p| app.call(env(p)) }
      sleep 0.01
      report = A::Ranking.new(*A.recorder.snapshot, A.recorder).to_h
      return report if report["status"] == "ok" && report["routes"].size == 4
      raise "no ranking in 30 s: #{report.slice("status", "intervals", "requests")}" if Process.clock_gettime(Process::CLOCK_MONOTONIC) > deadline
    end
  end

  def test_a_forked_child_starts_afresh
    app = A.new(->(_e) { [200, {}, ["ok"]] })
    app.call(env("/parent"))
    rd, wr = IO.pipe
    pid = fork do
      rd.close
      app.call(env("/child"))
      wr.write(A.recorder.snapshot[0].map(&:key).join(","))
      wr.close
      exit!(0)
    end
    wr.close
    assert_equal "GET /child", rd.read
    Process.wait(pid)
  end
end

# The endpoint route: GET <mount>/attribution on Memwatch::App (loopback only, as the
# other read routes).
class TestAttributionEndpoint < Minitest::Test
  def test_the_endpoint_serves_the_report_as_json
    require "rack/test"
    require "memwatch"
    require "memwatch/app"
    Memwatch::Attribution.configure(interval: 0.05)
    mw = Memwatch::Attribution.new(->(_e) { [200, {}, ["ok"]] })
    5.times { mw.call("REQUEST_METHOD" => "GET", "PATH_INFO" => "/x/1", "SCRIPT_NAME" => "") }
    app = Memwatch::App.new(token_env: nil, logger: Logger.new(StringIO.new))
    res = Rack::Test::Session.new(app, "localhost").get("/attribution")
    assert_equal 200, res.status, res.body
    body = JSON.parse(res.body)
    assert_equal "GET /x/:id", body["routes"].first["route"]
    assert_equal 5, body["routes"].first["requests_total"]
    far = Rack::Test::Session.new(app, "example.org").get("/attribution", {}, "REMOTE_ADDR" => "10.1.2.3")
    assert_equal 403, far.status, "the same access rules as the other routes"
    page = Rack::Test::Session.new(app, "localhost").get("/")
    assert_equal 200, page.status
    assert_includes page.body, %(<table class="attribution">), "the dashboard ranks routes when attribution is on"
    assert_includes page.body, "GET /x/:id"
  ensure
    Memwatch::Attribution.configure
  end
end

class TestAttributionHtml < Minitest::Test
  def test_the_dashboard_fragment_escapes_route_keys
    report = { "status" => "ok", "requests" => 3, "window_seconds" => 10.0, "method" => "nnls",
               "routes" => [{ "route" => "GET /<script>", "requests" => 3, "retained_bytes_per_request" => 20_480,
                              "retained_bytes_per_request_se" => 512, "retained_bytes" => 61_440, "suspect" => true,
                              "allocated_objects_per_request" => 7, "confidence" => "high" }] }
    html = Memwatch::Attribution::Html.table(report)
    assert_includes html, "GET /&lt;script&gt;"
    refute_includes html, "<script>"
    assert_includes html, "20.0 KB"
    assert_includes html, %(class="suspect")
  end
end

class TestAttributionVerdict < Minitest::Test
  # A leak verdict names the suspect routes (and carries them as evidence).
  def test_a_leak_verdict_names_the_suspect_routes
    require "memwatch"
    verdict = Memwatch::Verdict.new(kind: "ruby_objects", level: :suspected, explanation: "Ruby objects pile up.")
    suspect = { "route" => "GET /leak", "retained_bytes_per_request" => 20_480, "retained_bytes_per_request_se" => 800,
                "requests" => 900, "confidence" => "high", "suspect" => true }
    Memwatch::Attribution.stub(:active?, true) do
      Memwatch::Attribution.stub(:suspects, [suspect]) do
        named = Memwatch::VerdictLoop.with_suspect_routes(verdict)
        assert_match(/Ruby objects pile up\. Routes whose requests leave memory behind: GET \/leak \(~20\.0 KB/, named.explanation)
        assert_equal [suspect], named.evidence["suspect_routes"]
        none = Memwatch::Verdict.new(kind: "none")
        assert_same none, Memwatch::VerdictLoop.with_suspect_routes(none), "only leak verdicts name routes"
      end
    end
  end
end
