# frozen_string_literal: true

require_relative "test_helper"
require_relative "e2e/endpoint_helper"

# Deny by default, on every route: loopback only without a token, forwarded requests are
# not loopback, the token only in the Authorization header, allow lists and callables.
class TestEndpointAccess < Minitest::Test
  include EndpointHelper

  def setup = start_sampler

  def teardown
    stop_sampler
    cleanup_dump_dir
  end

  def call(app, path, verb: "GET", **env)
    env = env.transform_keys(&:to_s)
    env["HTTP_HOST"] = env.delete("host") if env.key?("host")
    s = session(app)
    s.custom_request(verb, path, {}, { "REMOTE_ADDR" => "127.0.0.1" }.merge(env))
    s.last_response
  end

  def every_route
    Memwatch::Endpoint.routes.flat_map { |path, verbs| verbs.keys.map { |verb| [verb, path] } }
  end

  def test_loopback_clients_are_served_without_configuration
    app = build_app
    %w[127.0.0.1 127.8.9.10 ::1 ::ffff:127.0.0.1].each do |addr|
      assert_equal 200, call(app, "/health", REMOTE_ADDR: addr).status, addr
    end
    assert_equal 200, call(app, "/health", host: "127.0.0.1:9292").status
    assert_equal 200, call(app, "/health", host: "[::1]:3000").status
  end

  def test_every_route_refuses_a_remote_client_without_configuration
    app = build_app
    every_route.each do |verb, path|
      r = call(app, path, verb: verb, REMOTE_ADDR: "10.1.2.3")
      assert_equal 403, r.status, "#{verb} #{path}"
      assert_equal({ "error" => "only loopback clients are served without a token" }, json(r))
    end
    assert_equal 403, call(app, "/no-such-route", REMOTE_ADDR: "10.1.2.3").status, "no route probing"
  end

  # Framing checks (413/414 and their reasons) are for clients we serve: a stranger's
  # oversized request is refused like any other, with nothing about the process.
  def test_a_strangers_oversized_request_gets_a_bare_refusal
    app = build_app(token: "t" * 32)
    long = "/status#{"x" * 10_000}"
    r = call(app, long, REMOTE_ADDR: "10.1.2.3")
    assert_equal 401, r.status
    assert_nil r.headers["x-memwatch-pid"]
    r = call(build_app, long, REMOTE_ADDR: "10.1.2.3")
    assert_equal 403, r.status
    assert_nil r.headers["x-memwatch-pid"]
    assert_equal 414, call(build_app, long).status, "a loopback client still gets the framing answer"
  end

  def test_denials_are_logged_but_cannot_flood_the_log
    app = build_app
    100.times { call(app, "/status", REMOTE_ADDR: "10.1.2.3") }
    assert_equal Memwatch::Endpoint::Dispatcher::DENIAL_LOG_LIMIT, log_text.scan("denied remote=10.1.2.3").size
  end

  def test_forwarded_requests_are_not_loopback
    app = build_app
    %w[HTTP_X_FORWARDED_FOR HTTP_FORWARDED HTTP_X_REAL_IP].each do |header|
      r = call(app, "/status", header.to_sym => "203.0.113.9")
      assert_equal 403, r.status, header
    end
    assert_match(/denied remote=127\.0\.0\.1 x_forwarded_for="203\.0\.113\.9"/, log_text)
  end

  def test_dns_rebinding_and_cross_site_posts_are_refused_on_loopback
    app = build_app
    assert_equal 403, call(app, "/status", host: "evil.example:9292").status
    assert_equal 403, call(app, "/gc", verb: "POST", HTTP_ORIGIN: "https://evil.example").status
    assert_equal 403, call(app, "/gc", verb: "POST", HTTP_ORIGIN: "null").status
    assert_equal 200, call(app, "/gc", verb: "POST", HTTP_ORIGIN: "http://localhost:3000").status
  end

  def test_every_route_needs_the_token_when_one_is_set
    app = build_app(token: TOKEN, dumps: true, tracing: true)
    wrong = "Bearer #{TOKEN.succ}"
    every_route.each do |verb, path|
      [nil, wrong, "Bearer", "Basic #{[TOKEN].pack("m0")}", "Bearer #{TOKEN} x"].each do |auth|
        env = auth ? { HTTP_AUTHORIZATION: auth } : {}
        r = call(app, path, verb: verb, **env)
        assert_equal 401, r.status, "#{verb} #{path} with #{auth.inspect}"
        assert_equal({ "error" => "unauthorized" }, json(r), "nothing else leaked")
        assert_equal 'Bearer realm="memwatch"', r.headers["www-authenticate"]
        assert_nil r.headers["x-memwatch-pid"]
      end
    end
  end

  def test_the_token_is_accepted_only_in_the_authorization_header
    app = build_app(token: TOKEN)
    assert_equal 401, call(app, "/health?token=#{TOKEN}").status
    assert_equal 401, call(app, "/health", HTTP_X_MEMWATCH_TOKEN: TOKEN).status
    assert_equal 200, call(app, "/health", HTTP_AUTHORIZATION: "Bearer #{TOKEN}").status
    assert_equal 200, call(app, "/health", HTTP_AUTHORIZATION: "bearer #{TOKEN}").status
    # With a token, the client's address does not matter (unless allow: says otherwise).
    assert_equal 200, call(app, "/health", REMOTE_ADDR: "198.51.100.4", HTTP_X_FORWARDED_FOR: "1.2.3.4",
                                           HTTP_AUTHORIZATION: "Bearer #{TOKEN}").status
    refute_includes log_text, TOKEN
  end

  def test_allow_lists_match_the_peer_and_ignore_forwarded_requests
    app = build_app(allow: ["10.0.0.0/8", "2001:db8::/32"])
    assert_equal 200, call(app, "/health", REMOTE_ADDR: "10.9.8.7", host: "app.internal").status
    assert_equal 200, call(app, "/health", REMOTE_ADDR: "2001:db8::5").status
    assert_equal 403, call(app, "/health", REMOTE_ADDR: "11.0.0.1").status
    assert_equal 403, call(app, "/health", REMOTE_ADDR: "127.0.0.1").status, "allow replaces loopback"
    assert_equal 403, call(app, "/health", REMOTE_ADDR: "10.9.8.7", HTTP_X_FORWARDED_FOR: "8.8.8.8").status
    assert_equal 403, call(app, "/health", REMOTE_ADDR: "garbage").status
  end

  def test_allow_lists_refuse_cross_site_browser_posts
    app = build_app(allow: ->(_env) { true })
    assert_equal 403, call(app, "/gc", verb: "POST", host: "app.example", HTTP_ORIGIN: "https://evil.example").status
    assert_equal 200, call(app, "/gc", verb: "POST", host: "app.example", HTTP_ORIGIN: "https://app.example").status
  end

  def test_allow_callables_decide_and_a_failing_one_denies
    app = build_app(allow: ->(env) { env["HTTP_X_ADMIN"] == "yes" })
    assert_equal 200, call(app, "/health", REMOTE_ADDR: "192.0.2.1", HTTP_X_ADMIN: "yes").status
    assert_equal 403, call(app, "/health", REMOTE_ADDR: "192.0.2.1").status
    app = build_app(allow: ->(_env) { raise "boom" })
    assert_equal 403, call(app, "/health").status
    assert_match(/allow callable raised RuntimeError: boom/, log_text)
  end

  def test_token_and_allow_together_need_both
    app = build_app(token: TOKEN, allow: ["10.0.0.0/8"])
    assert_equal 200, call(app, "/health", REMOTE_ADDR: "10.0.0.2", HTTP_AUTHORIZATION: "Bearer #{TOKEN}").status
    assert_equal 401, call(app, "/health", REMOTE_ADDR: "10.0.0.2").status
    assert_equal 403, call(app, "/health", REMOTE_ADDR: "12.0.0.2", HTTP_AUTHORIZATION: "Bearer #{TOKEN}").status
  end

  def test_dumps_and_tracing_stay_off_unless_enabled
    app = build_app(token: TOKEN)
    %w[/heap_dump /tracing/start /tracing/stop].each do |path|
      r = call(app, path, verb: "POST", HTTP_AUTHORIZATION: "Bearer #{TOKEN}")
      assert_equal 403, r.status, path
      assert_match(/disabled/, json(r)["error"])
    end
    assert_match(%r{POST /heap_dump -> 403 reason="heap dumps are disabled}, log_text, "refusals are audited")
  end

  def test_status_never_shows_the_environment_or_the_token
    ENV["MEMWATCH_TEST_SECRET"] = "s3cr3t-env-value-do-not-leak"
    app = build_app(token: TOKEN)
    %w[/status /snapshot /samples /samples.tsv /].each do |path|
      body = call(app, path, HTTP_AUTHORIZATION: "Bearer #{TOKEN}").body
      refute_includes body, "s3cr3t-env-value-do-not-leak", path
      refute_includes body, TOKEN, path
    end
  ensure
    ENV.delete("MEMWATCH_TEST_SECRET")
  end
end
