# frozen_string_literal: true

require_relative "test_helper"
require_relative "e2e/puma_cluster/harness"
require_relative "e2e/puma_cluster/prometheus_helper"

# A real Prometheus (Debian's, on 127.0.0.1, 1 s scrapes, bearer token) scraping a real
# Puma cluster running memwatch: the target goes up, memwatch_rss_bytes arrives once per
# process labelled by worker, values and labels match what the cluster reports itself,
# and a scrape with the wrong token is refused.
class TestMetricsPrometheus < Minitest::Test
  TOKEN = "prom-token-0123456789abcdef-memwatch"
  DEADLINE = 45

  def setup
    PumaHarness.skip?(self)
    @puma = PumaHarness.new(workers: 2, preload: true, token: TOKEN).start
    File.write(token_file = File.join(@puma.tmp, "token"), TOKEN)
    File.write(wrong = File.join(@puma.tmp, "wrong"), "not-the-token-0123456789abcdef")
    target = "127.0.0.1:#{@puma.port}"
    @prom = PrometheusHelper::Server.new(@puma.tmp, "memwatch" => [target, "/memwatch/metrics", token_file],
                                                    "wrongtoken" => [target, "/memwatch/metrics", wrong])
  end

  def teardown
    @prom&.stop
    @puma&.cleanup
  end

  def test_prometheus_scrapes_every_worker
    out, status = @prom.check_config
    assert status.success?, out
    @prom.start(free_port)
    wait("Prometheus ready") { @prom.ready? }
    wait("the memwatch target up") { target("memwatch")&.then { |t| t["health"] == "up" && t["lastError"] == "" } }
    wait("three memwatch_rss_bytes series") { @prom.query("memwatch_rss_bytes").size == 3 }

    view = @puma.cluster
    rss = @prom.query("memwatch_rss_bytes")
    assert_equal %w[0 1 master], rss.map { |r| r.dig("metric", "worker") }.sort
    rss.each do |r|
      assert_equal %w[__name__ instance job worker], r["metric"].keys.sort, "bounded labels: no pid on the series"
      mine = view["processes"].find { |p| p["worker"] == r.dig("metric", "worker") }
      assert_in_delta mine.dig("memory", "rss_bytes"), r["value"][1].to_f, mine.dig("memory", "rss_bytes") * 0.5
    end
    check_info(view)
    assert_equal [["1"]], @prom.query('up{job="memwatch"}').map { |r| [r["value"][1]] }
    assert_equal 1, @prom.query('sum(memwatch_verdict{job="memwatch",worker="0"})').first["value"][1].to_i

    wrong = wait("the wrong-token target down") { target("wrongtoken")&.then { |t| t["health"] == "down" && t } }
    assert_match(/401/, wrong["lastError"])
  end

  private

  def check_info(view)
    workers = view["processes"].to_h { |p| [p["worker"], p["pid"].to_s] }
    info = @prom.query("memwatch_process_info")
    assert_equal workers, info.to_h { |r| [r.dig("metric", "worker"), r.dig("metric", "pid")] }
    build = @prom.query("memwatch_build_info").map { |r| r["metric"].slice("version", "ruby_version", "allocator") }.uniq
    first = view["processes"].first
    assert_equal [{ "version" => first["version"], "ruby_version" => first["ruby"], "allocator" => first["allocator"] }], build
  end

  def target(job) = @prom.targets.find { |t| t.dig("labels", "job") == job }

  def wait(what, &block) = @puma.wait_until(what, DEADLINE, &block)

  def free_port
    server = TCPServer.new("127.0.0.1", 0)
    server.addr[1]
  ensure
    server&.close
  end
end
