# frozen_string_literal: true

require_relative "test_helper"
require_relative "e2e/puma_cluster/harness"
require "memwatch/verdict"
require "open3"

# A real Puma with `plugin :memwatch` on 127.0.0.1: single mode, and `workers 2` with
# preload_app!. Bounded load, then per-worker logs, the cluster view, a worker killed
# with SIGKILL and replaced, an action relayed to a chosen worker, and a clean stop.
class TestPumaE2E < Minitest::Test
  TOKEN = "e2e-token-0123456789abcdef-memwatch"

  def setup
    PumaHarness.skip?(self)
  end

  def teardown
    @puma&.cleanup
  end

  def test_single_mode_samples_and_shows_itself
    @puma = PumaHarness.new(workers: 0, preload: false).start
    @puma.load(requests: 100, seconds: 3)
    view = @puma.wait_until("a second publish", 10) { (v = @puma.cluster) && v["processes"].first["stats"]["ticks"] > 5 && v }

    assert_equal "single", view["mode"]
    assert_equal 1, view["processes"].size
    me = view["processes"].first
    assert_equal %w[single single true], [me["role"], me["worker"], me["self"].to_s]
    assert_operator me.dig("memory", "rss_bytes"), :>, 1 << 20
    logs = Dir[File.join(@puma.log_dir, "memwatch-single-*.tsv")]
    assert_equal 1, logs.size, "one log in single mode: #{Dir.children(@puma.log_dir)}"
    assert_log(logs.first, "single", me["pid"])
    assert_clean_boot
    pids = @puma.group_pids
    @puma.stop
    assert_empty pids.select { |p| alive?(p) }, "processes left behind"
  end

  def test_cluster_with_preload_workers_restart_and_relay
    @puma = PumaHarness.new(workers: 2, preload: true, token: TOKEN, dumps: true).start
    @puma.load(requests: 300, seconds: 5)
    view = wait_for_workers(%w[0 1])

    assert_cluster_view(view)
    workers = view["processes"].select { |p| p["role"] == "worker" }
    workers.each { |w| assert_log(w["log_path"], "worker-#{w["worker"]}", w["pid"]) }
    master = view["processes"].find { |p| p["role"] == "master" }
    assert_log(master["log_path"], "master", master["pid"])

    assert_clean_boot
    check_relay(workers)
    check_heap_dump_relay(workers)
    check_restart(workers.find { |w| w["worker"] == "1" })

    pids = @puma.group_pids
    @puma.stop
    assert_empty pids.select { |p| alive?(p) }, "processes left behind"
    refute Dir.exist?(@puma.cluster_dir) && !Dir.empty?(@puma.cluster_dir), "the master clears the shared directory"
  end

  # Without preload_app! Puma can restart workers one by one (SIGUSR1): each new worker
  # samples under its old index, and the replaced ones leave the view.
  def test_phased_restart_without_preload
    @puma = PumaHarness.new(workers: 2, preload: false).start
    before = wait_for_workers(%w[0 1])["processes"].select { |p| p["role"] == "worker" }
    assert before.all? { |w| w["reference"].nil? }, "no post-boot reference before reference_delay (30 s without preload)"
    Process.kill(:USR1, @puma.pid)
    old = before.map { |w| w["pid"] }
    view = @puma.wait_until("two new workers", 30) do
      v = @puma.cluster
      ws = v && v["processes"].select { |p| p["role"] == "worker" }
      ws && ws.size == 2 && (ws.map { |w| w["pid"] } & old).empty? && ws.all? { |w| w.dig("stats", "ticks").to_i >= 3 } && v
    end
    assert_equal %w[master 0 1], view["processes"].map { |p| p["worker"] }
    assert_empty Dir.children(@puma.cluster_dir).grep(/-(#{old.join("|")})\.json\z/), "replaced workers' states are gone"
    assert_equal 4, Dir[File.join(@puma.log_dir, "memwatch-worker-*.tsv")].size, "a log per worker process"
    assert_clean_boot
    check_html_in_a_browser(view)
  end

  private

  def wait_for_workers(indexes, exclude_pid: nil)
    @puma.wait_until("workers #{indexes} with fresh samples", 20) do
      view = @puma.cluster
      workers = view && view["processes"].select { |p| p["role"] == "worker" && p["pid"] != exclude_pid }
      workers && workers.map { |w| w["worker"] }.sort == indexes &&
        workers.all? { |w| w.dig("stats", "ticks").to_i >= 5 && w["age_seconds"] < 10 } && view
    end
  end

  def assert_cluster_view(view)
    assert_equal "cluster", view["mode"]
    assert_equal @puma.cluster_dir, view["directory"]
    assert_equal %w[master 0 1], view["processes"].map { |p| p["worker"] }
    assert_equal 1, view["processes"].count { |p| p["self"] }, "exactly one process says it answered"
    view["processes"].each do |p|
      assert_operator p.dig("sample", "tick"), :>, Time.now.to_f - 30, "fresh sample for #{p["label"]}"
      %w[rss_bytes pss_bytes uss_bytes].each { |k| assert_kind_of Integer, p.dig("memory", k), "#{k} of #{p["label"]}" }
      assert_operator p.dig("memory", "pss_bytes"), :<=, p.dig("memory", "rss_bytes")
      assert_operator p.dig("memory", "uss_bytes"), :<=, p.dig("memory", "pss_bytes")
      assert_kind_of Integer, p.dig("growth", "uss_bytes"), "growth from the post-boot reference (at fork, with preload)"
      assert_includes Memwatch::Verdict::KINDS, p.dig("verdict", "kind")
    end
    workers = view["processes"].select { |p| p["role"] == "worker" }
    assert_operator workers.map { |w| w["shared_bytes"] }.min, :>, 0, "preloaded workers share pages with the master"
    assert_equal view["processes"].sum { |p| p.dig("memory", "pss_bytes") }, view.dig("totals", "pss_bytes")
  end

  # The cluster table as a real (headless) browser renders it: one row per process.
  def check_html_in_a_browser(view)
    skip "no /usr/bin/chromium" unless File.executable?("/usr/bin/chromium")
    profile = File.join(@puma.tmp, "chromium")
    cmd = ["timeout", "--kill-after=5", "60", "/usr/bin/chromium", "--headless", "--no-sandbox", "--disable-gpu",
           "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync",
           "--user-data-dir=#{profile}", "--dump-dom", "http://127.0.0.1:#{@puma.port}/memwatch/cluster.html?refresh=0"]
    dom, err, status = Open3.capture3(*cmd, stdin_data: "")
    assert status.success?, "chromium failed: #{err.lines.last(5).join}"
    rows = dom.scan(%r{<tr><td>(master|worker \d)(?: \(answered\))?</td><td>(\d+)</td>}).to_h
    assert_equal view["processes"].to_h { |p| [p["role"] == "worker" ? "worker #{p["worker"]}" : "master", p["pid"].to_s] }, rows
    assert_includes dom, "sum of PSS"
  end

  # The plugin's hooks fit this Puma: no deprecation or "hook will not run" warnings,
  # and the Puma asked for (MEMWATCH_PUMA_VERSION) is the one running.
  def assert_clean_boot
    output = File.read(@puma.output)
    refute_match(/deprecat|will not execute|WARNING hook|could not start/i, output)
    assert_equal ["http://127.0.0.1:#{@puma.port}"], output.scan(/Listening on (\S+)/).flatten, "config's first line (bind) kept"
    assert_match(/Puma version: #{Regexp.escape(PumaHarness.puma_version)}/, output) if PumaHarness.puma_version
  end

  # Its own file: "# label:" and "# pid:" metadata, the header, and rows.
  def assert_log(path, label, pid)
    assert_equal "memwatch-#{label}-#{pid}.tsv", File.basename(path)
    lines = File.readlines(path, chomp: true)
    assert_includes lines, "# label: #{label}"
    assert_includes lines, "# pid: #{pid}"
    header = lines.index { |l| l.start_with?("type\t") }
    refute_nil header, "a header row in #{path}"
    rows = lines[(header + 1)..].grep(/\Asample\t/)
    assert_operator rows.size, :>=, 3, "rows in #{path}"
  end

  # POST /cluster/gc?worker=N runs in worker N whichever worker takes the request:
  # several tries land on both workers, so both paths (local and relayed) run.
  def check_relay(workers)
    target = workers.find { |w| w["worker"] == "1" }
    answers = Array.new(6) { @puma.post("/memwatch/cluster/gc?worker=1&full=1") }
    answers.each do |res|
      assert_equal "200", res.code, res.body
      assert_equal "1", res["x-memwatch-worker"]
      assert_equal target["pid"].to_s, res["x-memwatch-pid"], "worker 1 itself answered"
      assert JSON.parse(res.body).dig("gc", "full")
    end
    missing = @puma.post("/memwatch/cluster/gc?worker=9")
    assert_equal "404", missing.code
    assert_match(/no live worker 9/, missing.body)
    assert_equal "401", Net::HTTP.start("127.0.0.1", @puma.port) { |h| h.post("/memwatch/cluster/gc?worker=1", "") }.code
  end

  def check_heap_dump_relay(workers)
    target = workers.find { |w| w["worker"] == "0" }
    res = @puma.post("/memwatch/cluster/heap_dump?worker=0&gzip=0")
    assert_equal "200", res.code, res.body
    assert_equal target["pid"].to_s, res["x-memwatch-pid"]
    assert_equal target["pid"], JSON.parse(res["x-memwatch-manifest"])["pid"]
    assert_equal res["content-length"].to_i, res.body.bytesize
    first = JSON.parse(res.body.lines.first)
    assert first.key?("type"), "ndjson heap dump lines"
  end

  # SIGKILL worker 1: Puma forks a new worker 1, which publishes under the same index
  # with a new pid; the dead one's state is pruned and its log stays on disk.
  def check_restart(old)
    Process.kill(:KILL, old["pid"])
    view = wait_for_workers(%w[0 1], exclude_pid: old["pid"])
    fresh = view["processes"].find { |p| p["worker"] == "1" }
    refute_equal old["pid"], fresh["pid"]
    refute_includes view["processes"].map { |p| p["pid"] }, old["pid"]
    refute File.exist?(File.join(@puma.cluster_dir, "worker-1-#{old["pid"]}.json")), "old state pruned"
    assert File.exist?(old["log_path"]), "the killed worker's log stays"
    @puma.wait_until("rows in the new worker's log", 10) { File.exist?(fresh["log_path"]) && File.size(fresh["log_path"]) > 2000 }
    assert_log(fresh["log_path"], "worker-1", fresh["pid"])
  end

  def alive?(pid)
    Process.kill(0, pid)
    !File.read("/proc/#{pid}/stat").split(") ").last.start_with?("Z")
  rescue Errno::ESRCH, Errno::ENOENT
    false
  end
end
