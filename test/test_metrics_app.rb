# frozen_string_literal: true

require_relative "test_helper"
require_relative "e2e/endpoint_helper"
require_relative "e2e/puma_cluster/prometheus_helper"
require "memwatch/metrics"

# Memwatch::Metrics as a Rack app of its own and as the endpoint's /metrics route, with
# the real sampler: the endpoint's access rules (loopback, or a bearer token), Rack::Lint,
# and promtool on the live output.
class TestMetricsApp < Minitest::Test
  include EndpointHelper

  def setup
    Memwatch.stop
    start_sampler
  end

  def teardown
    stop_sampler
    cleanup_dump_dir
  end

  def test_standalone_app_serves_loopback_clients
    res = session(metrics).get("/")
    assert_equal 200, res.status
    assert_equal "text/plain; version=0.0.4; charset=utf-8", res.headers["content-type"]
    assert_rack3(res)
    rss = res.body[/^memwatch_rss_bytes\{worker="single"\} (\d+)$/, 1]
    refute_nil rss, res.body
    assert_operator rss.to_i, :>, 1 << 20
    assert_match(/^memwatch_process_info\{worker="single",pid="#{Process.pid}",role="single"\} 1$/, res.body)
    assert_match(/^memwatch_build_info\{worker="single",version="#{Regexp.escape(Memwatch::VERSION)}",ruby_version="#{RUBY_VERSION}",allocator="#{Memwatch.allocator}"\} 1$/, res.body)
    ok, out = PrometheusHelper.promtool(res.body)
    assert ok, out
    assert_empty out.strip
  end

  def test_standalone_app_answers_only_its_own_path_and_get
    s = session(metrics)
    assert_equal 200, s.get("/metrics").status
    assert_equal 404, s.get("/status").status, "the standalone app serves metrics, nothing else"
    head = s.head("/")
    assert_equal 200, head.status
    assert_empty head.body
    assert_equal 405, s.post("/").status
  end

  def test_other_clients_need_a_token
    s = session(metrics, host: "example.org")
    res = s.get("/", {}, "REMOTE_ADDR" => "10.1.2.3")
    assert_equal 403, res.status
    assert_match(/denied.*10\.1\.2\.3/, log_text)
  end

  def test_with_a_token_every_request_needs_it
    s = session(metrics(token: TOKEN), host: "example.org")
    refused = s.get("/", {}, "REMOTE_ADDR" => "10.1.2.3")
    assert_equal 401, refused.status
    assert_equal 'Bearer realm="memwatch"', refused.headers["www-authenticate"]
    assert_equal 401, s.get("/", {}, bearer("wrong-token-0123456789abcdef")).status
    assert_equal 200, s.get("/", {}, { "REMOTE_ADDR" => "10.1.2.3" }.merge(bearer)).status
  end

  def test_the_endpoint_has_a_metrics_route
    res = session(build_app).get("/metrics")
    assert_equal 200, res.status
    assert_match(/^# TYPE memwatch_gc_runs_total counter$/, res.body)
    assert_match(/^memwatch_gc_runs_total\{worker="single",type="major"\} \d+$/, res.body)
  end

  def test_a_bad_option_fails_at_build_time
    assert_raises(Memwatch::EndpointConfigError) { Memwatch::Metrics.new(token: "short") }
  end

  private

  def metrics(**opts)
    @log = StringIO.new
    Memwatch::Metrics.new(token_env: nil, logger: Logger.new(@log), **opts)
  end
end
