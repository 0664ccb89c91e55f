# frozen_string_literal: true

require_relative "test_helper"
require_relative "e2e/endpoint_helper"

# Malformed requests: a table of hand-made cases plus seeded random ones. Every answer
# must be a 4xx with a one-line JSON reason, nothing may raise into the host, and the
# endpoint must keep serving afterwards.
class TestEndpointFuzz < Minitest::Test
  include EndpointHelper

  BASE = { "REQUEST_METHOD" => "GET", "SCRIPT_NAME" => "", "PATH_INFO" => "/status", "QUERY_STRING" => "",
           "SERVER_NAME" => "localhost", "SERVER_PORT" => "80", "SERVER_PROTOCOL" => "HTTP/1.1",
           "HTTP_HOST" => "localhost", "REMOTE_ADDR" => "127.0.0.1", "rack.url_scheme" => "http" }.freeze

  CASES = {
    "long path" => { "PATH_INFO" => "/#{"a" * 10_000}" },
    "long query" => { "QUERY_STRING" => "limit=#{"9" * 5000}" },
    "bad percent" => { "PATH_INFO" => "/samples", "QUERY_STRING" => "limit=%zz" },
    "lone percent" => { "PATH_INFO" => "/samples", "QUERY_STRING" => "limit=%" },
    "invalid utf-8" => { "PATH_INFO" => "/samples", "QUERY_STRING" => "resolution=%E0%A4%A" },
    "raw high bytes" => { "PATH_INFO" => "/samples", "QUERY_STRING" => "resolution=\xFF\xFE".b },
    "nul byte" => { "PATH_INFO" => "/samples", "QUERY_STRING" => "limit=1%00" },
    "bad name" => { "QUERY_STRING" => "li mit=1" },
    "unicode name" => { "QUERY_STRING" => "%C3%A9=1" },
    "name only =" => { "QUERY_STRING" => "=1" },
    "array syntax" => { "PATH_INFO" => "/samples", "QUERY_STRING" => "limit[]=1" },
    "a=b=c" => { "PATH_INFO" => "/samples", "QUERY_STRING" => "limit=1=2" },
    "huge integer" => { "PATH_INFO" => "/samples", "QUERY_STRING" => "limit=99999999999999999999" },
    "exponent" => { "PATH_INFO" => "/samples", "QUERY_STRING" => "since=1e308" },
    "nan" => { "PATH_INFO" => "/samples", "QUERY_STRING" => "since=NaN" },
    "negative" => { "PATH_INFO" => "/samples", "QUERY_STRING" => "limit=-1" },
    "duplicate" => { "PATH_INFO" => "/samples", "QUERY_STRING" => "limit=1&limit=1" },
    "bool garbage" => { "REQUEST_METHOD" => "POST", "PATH_INFO" => "/gc", "QUERY_STRING" => "full=maybe" },
    "dot segments" => { "PATH_INFO" => "/../status" },
    "double slash" => { "PATH_INFO" => "//status" },
    "traversal to action" => { "PATH_INFO" => "/status/../gc" },
    "encoded slash" => { "PATH_INFO" => "/status%2F" },
    "case" => { "PATH_INFO" => "/STATUS" },
    "control chars" => { "PATH_INFO" => "/sta\ttus\r\n" },
    "PUT" => { "REQUEST_METHOD" => "PUT" },
    "PATCH" => { "REQUEST_METHOD" => "PATCH", "PATH_INFO" => "/gc" },
    "OPTIONS" => { "REQUEST_METHOD" => "OPTIONS" },
    "TRACE" => { "REQUEST_METHOD" => "TRACE" },
    "GET on action" => { "PATH_INFO" => "/heap_dump" },
    "POST on read" => { "REQUEST_METHOD" => "POST", "PATH_INFO" => "/samples" },
    "content-length garbage" => { "REQUEST_METHOD" => "POST", "PATH_INFO" => "/gc", "CONTENT_LENGTH" => "abc" },
    "negative content-length" => { "REQUEST_METHOD" => "POST", "PATH_INFO" => "/gc", "CONTENT_LENGTH" => "-1" },
    "body" => { "REQUEST_METHOD" => "POST", "PATH_INFO" => "/gc", "CONTENT_LENGTH" => "5", "rack.input" => "hello" },
    "huge body" => { "REQUEST_METHOD" => "POST", "PATH_INFO" => "/gc", "CONTENT_LENGTH" => "10000000000" },
    "chunked" => { "REQUEST_METHOD" => "POST", "PATH_INFO" => "/gc", "HTTP_TRANSFER_ENCODING" => "chunked" },
    "no remote addr" => { "REMOTE_ADDR" => nil },
    "garbage remote addr" => { "REMOTE_ADDR" => "not an address" },
    "garbage host" => { "HTTP_HOST" => "\x00\xff".b },
    "missing path" => { "PATH_INFO" => nil, "QUERY_STRING" => nil, "REQUEST_METHOD" => nil }
  }.freeze

  def setup
    start_sampler
    @app = build_app
  end

  def teardown
    stop_sampler
    cleanup_dump_dir
  end

  def env_for(overrides)
    env = BASE.merge("rack.input" => StringIO.new("")).merge(overrides)
    env["rack.input"] = StringIO.new(env["rack.input"]) if env["rack.input"].is_a?(String)
    env.delete_if { |_, v| v.nil? }
  end

  def assert_refused(name, env)
    status, headers, body = @app.call(env)
    text = +""
    body.each { |chunk| text << chunk }
    body.close if body.respond_to?(:close)
    assert_includes 400..499, status, "#{name}: #{text}"
    assert_equal "application/json; charset=utf-8", headers["content-type"], name
    assert_kind_of String, JSON.parse(text)["error"], name
    assert_equal 1, text.lines.size, name
  end

  def test_the_table_of_malformed_requests
    CASES.each { |name, overrides| assert_refused(name, env_for(overrides)) }
    assert_still_serving
  end

  def test_seeded_random_paths_queries_and_headers
    rng = Random.new(Integer(ENV.fetch("MEMWATCH_FUZZ_SEED", "20261121")))
    400.times do |i|
      junk = rng.bytes(rng.rand(1..80))
      overrides = case i % 4
                  when 0 then { "PATH_INFO" => "/zz#{junk}" }
                  when 1 then { "PATH_INFO" => "/samples", "QUERY_STRING" => "x#{junk}" }
                  when 2 then { "PATH_INFO" => "/samples", "QUERY_STRING" => "limit=#{junk.unpack1("H*")}z" }
                  else { "REQUEST_METHOD" => "POST", "PATH_INFO" => "/gc", "QUERY_STRING" => "full=#{junk.unpack1("H*")}z" }
                  end
      assert_refused("random case #{i} (#{overrides.inspect[0, 80]})", env_for(overrides))
    end
    assert_still_serving
  end

  def test_a_handler_that_raises_becomes_a_500_and_the_host_is_untouched
    Memwatch::Endpoint.route("GET", "/test-raise") { raise NoMethodError, "boom" }
    status, _, body = @app.call(env_for("PATH_INFO" => "/test-raise"))
    assert_equal 500, status
    assert_equal({ "error" => "internal error in the memwatch endpoint (logged)" }, JSON.parse(body.join))
    assert_match(/NoMethodError: boom/, log_text)
    assert_still_serving
  ensure
    Memwatch::Endpoint.unroute("GET", "/test-raise")
  end

  def assert_still_serving
    status, _, body = @app.call(env_for("PATH_INFO" => "/health"))
    assert_equal [200, "ok"], [status, JSON.parse(body.join)["status"]]
  end
end
