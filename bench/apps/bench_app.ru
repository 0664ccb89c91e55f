# frozen_string_literal: true

# The app the Puma benchmarks serve. BENCH_MODE picks what runs beside it:
#   none          nothing (memwatch not even loaded)
#   loaded        memwatch and its endpoint loaded, nothing started (the fair base: a
#                 bigger boot heap alone changes GC frequency)
#   memwatch      Memwatch.start(interval: BENCH_INTERVAL) in each worker
#   naive         a Ruby thread: GC.stat + /proc/self/status + one log line every BENCH_INTERVAL
#   pergc         a gc_tracer-style logger: one row per GC event through an internal GC
#                 TracePoint (the gc_tracer gem when GC_TRACER=1 and it loads)
#   attribution   Memwatch::Attribution in front of the app (and the sampler at 1 s)
# Routes: / (hello), /alloc (898 allocations, 8.9 KB of JSON), and the memwatch
# endpoint under /memwatch (status, samples, metrics) in every mode but none.
$LOAD_PATH.unshift File.expand_path("../../lib", __dir__)
require "json"
require_relative "../lib/samplers"

MODE = ENV.fetch("BENCH_MODE", "none")
INTERVAL = Float(ENV.fetch("BENCH_INTERVAL", "1.0"))
LOG_DIR = ENV.fetch("BENCH_LOG_DIR", Dir.tmpdir)

if MODE != "none"
  require "memwatch"
  require "memwatch/app"
  require "memwatch/metrics" if File.exist?(File.expand_path("../../lib/memwatch/metrics.rb", __dir__))
  require "memwatch/attribution" if MODE == "attribution"
end

# Samplers start in each worker (after fork) and in single mode at boot.
BenchSamplers.start_later(MODE, INTERVAL, LOG_DIR)

hello = ->(_env) { [200, { "content-type" => "text/plain" }, ["Hello World!"]] }
alloc = lambda do |_env|
  rows = Array.new(150) { |i| { "id" => i, "name" => "item #{i}", "ok" => i.even? } }
  [200, { "content-type" => "application/json" }, [JSON.generate(rows)]]
end

app = lambda do |env|
  BenchSamplers.ensure_started
  case env["PATH_INFO"]
  when "/" then hello.call(env)
  when "/alloc" then alloc.call(env)
  else [404, { "content-type" => "text/plain" }, ["not found"]]
  end
end

use Memwatch::Attribution if MODE == "attribution"
use Memwatch::Middleware, path: "/memwatch", token_env: nil if MODE != "none"
run app
