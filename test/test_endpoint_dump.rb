# frozen_string_literal: true

require_relative "test_helper"
require_relative "e2e/endpoint_helper"
require "zlib"

# POST /heap_dump: a real ObjectSpace.dump_all taken in a forked child and streamed.
class TestEndpointDump < Minitest::Test
  include EndpointHelper

  def setup
    @app = build_app(token: TOKEN, dumps: true, tracing: true)
    @s = session(@app)
    @s.header("Authorization", "Bearer #{TOKEN}")
  end

  def teardown
    Memwatch::Endpoint::Tracing.stop
    cleanup_dump_dir
  end

  def dump(query = "", env = {})
    @s.post("/heap_dump#{query}", {}, env)
    @s.last_response
  end

  def lines_of(text) = text.each_line.map { |l| JSON.parse(l) }

  def test_a_dump_is_taken_in_a_child_streamed_and_parses_as_dump_all_json_lines
    marker = +"memwatch-marker-#{rand(1 << 30)}"
    r = dump
    assert_equal 200, r.status, r.body[0, 200]
    assert_equal "application/x-ndjson", r.headers["content-type"]
    assert_equal r.body.bytesize.to_s, r.headers["content-length"]
    assert_match(/\Aattachment; filename="heap-\d{8}T\d{6}Z-#{Process.pid}-\h{6}\.ndjson"\z/, r.headers["content-disposition"])
    assert_equal "no-store, no-transform", r.headers["cache-control"]
    objects = lines_of(r.body)
    assert_operator objects.size, :>, 1000
    assert(objects.all? { |o| o["type"].is_a?(String) })
    assert_includes objects.map { |o| o["type"] }, "ROOT"
    assert(objects.any? { |o| o["type"] == "STRING" && o["value"] == marker }, "the dump is of this process")
    assert_match(/heap dump \S+ streamed #{r.body.bytesize} of #{r.body.bytesize} bytes/, log_text)
    assert_match(%r{POST /heap_dump -> 200 id=\S+ bytes=#{r.body.bytesize} gzip=false fork_ms=[\d.]+}, log_text)
  end

  def test_the_manifest_describes_the_dump
    r = dump
    m = JSON.parse(r.headers["x-memwatch-manifest"])
    assert_equal [Process.pid, RUBY_VERSION, true], m.values_at("pid", "ruby", "gc_before_dump"), "GC in the child by default"
    assert_equal Memwatch.allocator, m["allocator"]["name"]
    assert_operator m["gc_stat"]["heap_live_slots"], :>, 0
    assert_equal r.body.bytesize, m["bytes"]
    assert_kind_of Float, m["fork_ms"]
    assert_in_delta Time.now.to_f, Time.iso8601(m["time"]).to_f, 600
    r = nil # rubocop:disable Lint/UselessAssignment -- not in the next dump
    refute JSON.parse(dump("?gc=0").headers["x-memwatch-manifest"])["gc_before_dump"]
  end

  def test_gzip_as_a_file_or_as_a_content_encoding
    r = dump("?gzip=1")
    assert_equal "application/gzip", r.headers["content-type"]
    assert_match(/\.ndjson\.gz"\z/, r.headers["content-disposition"])
    text = Zlib.gunzip(r.body)
    assert_operator text.bytesize, :>, 5 * r.body.bytesize, "dump_all JSON compresses well"
    assert_equal "ROOT", JSON.parse(text.lines.first)["type"]
    text = nil # rubocop:disable Lint/UselessAssignment -- not in the next dump
    r = dump("?gc=0", "HTTP_ACCEPT_ENCODING" => "br, gzip;q=0.8")
    assert_equal ["application/x-ndjson", "gzip", "accept-encoding"], r.headers.values_at("content-type", "content-encoding", "vary")
    lines = Zlib.gunzip(r.body).lines
    assert_operator lines.size, :>, 1000
    [lines.first, lines.last].each { |l| assert_kind_of String, JSON.parse(l)["type"] }
  end

  def test_gzip_is_negotiated_from_accept_encoding
    yes = ["gzip", "br, gzip;q=0.8", "GZIP", "deflate , gzip"]
    no = ["gzip;q=0", "br", "", nil, "x-gzip2"]
    yes.each { |h| assert Memwatch::Endpoint::HeapDump.accepts_gzip?(h), h }
    no.each { |h| refute Memwatch::Endpoint::HeapDump.accepts_gzip?(h), h.inspect }
  end

  def test_one_dump_at_a_time_per_host_then_429
    lock = Memwatch::Endpoint::DumpLock.acquire(File.join(@dump_dir, "dumps"), 0)
    r = dump
    assert_equal 429, r.status
    assert_equal "10", r.headers["retry-after"]
    assert_match(/already running/, json(r)["error"])
    lock.release(ran: false)
    assert_equal 200, dump.status
  end

  def test_the_cooldown_answers_429_with_the_time_left
    app = build_app(token: TOKEN, dumps: true, dump_cooldown: 600)
    s = session(app)
    s.post("/heap_dump", {}, bearer)
    assert_equal 200, s.last_response.status
    s.post("/heap_dump", {}, bearer)
    assert_equal 429, s.last_response.status
    assert_includes 590..600, s.last_response.headers["retry-after"].to_i
  end

  def test_size_limit_gives_507_and_leaves_nothing_behind
    %w[?gzip=0 ?gzip=1].each do |q|
      app = build_app(token: TOKEN, dumps: true, dump_max_bytes: 50_000)
      s = session(app)
      s.post("/heap_dump#{q}", {}, bearer)
      assert_equal 507, s.last_response.status, q
      assert_equal "heap dump exceeded dump_max_bytes (50000 bytes)", json(s.last_response)["error"]
    end
    assert_equal ["dump.lock"], Dir.children(File.join(@dump_dir, "dumps"))
    assert_equal 0o700, File.stat(File.join(@dump_dir, "dumps")).mode & 0o777
    assert_equal 200, dump.status, "the lock was released"
  end

  def test_timeout_gives_503
    app = build_app(token: TOKEN, dumps: true, dump_timeout: 0.001)
    s = session(app)
    s.post("/heap_dump", {}, bearer)
    assert_equal 503, s.last_response.status
    assert_match(/longer than dump_timeout/, json(s.last_response)["error"])
    assert_equal 200, dump.status
  end

  def test_since_needs_tracing_and_then_dumps_only_newer_objects
    @s.post("/tracing/start?seconds=60")
    generation = json(@s.last_response)["tracing"]["generation"]
    assert_operator generation, :>, 0
    r = dump("?since=#{generation - 1}")
    assert_equal 400, r.status
    assert_match(/needs allocation tracing .* \(it started at generation #{generation}\)/, json(r)["error"])
    line = __LINE__ + 1
    kept = Array.new(200) { |i| "born-after-#{i}" }
    GC.start
    r = dump("?since=#{generation}")
    assert_equal 200, r.status
    objects = lines_of(r.body).reject { |o| o["type"] == "ROOT" }
    refute_empty objects
    assert(objects.all? { |o| o["generation"].is_a?(Integer) && o["generation"] >= generation })
    born = objects.find { |o| o["value"] == "born-after-7" }
    assert_equal [__FILE__, line], born.values_at("file", "line"), born.inspect
    refute_nil kept
  end

  def test_the_private_directory_is_checked
    dir = File.join(@dump_dir, "open")
    Dir.mkdir(dir, 0o755)
    File.chmod(0o755, dir)
    s = session(build_app(token: TOKEN, dumps: true, dump_dir: dir))
    s.post("/heap_dump", {}, bearer)
    assert_equal 500, s.last_response.status
    assert_match(/must be a directory owned by uid \d+ with mode 0700/, json(s.last_response)["error"])
  end
end
