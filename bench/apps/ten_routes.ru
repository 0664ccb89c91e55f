# frozen_string_literal: true

# Ten routes, one of which (/leak) keeps LEAK_BYTES (default 20 KB) per request
# forever, either as one String (LEAK_KIND=string: malloc'd) or as LEAK_BYTES/40
# small objects (LEAK_KIND=objects: Ruby heap slots). The others allocate, churn and
# free in different amounts. Used by test/test_attribution_puma.rb and rake bench.
#   ATTRIBUTION=0 runs without Memwatch::Attribution (the overhead baseline);
#   MEMWATCH=1 (read by memwatch itself) also starts the sampler.
$LOAD_PATH.unshift File.expand_path("../../lib", __dir__)
require "json"
require "memwatch" if ENV["MEMWATCH"] == "1" || ENV["ATTRIBUTION"] != "0"
require "memwatch/attribution" if ENV["ATTRIBUTION"] != "0"

LEAK_BYTES = Integer(ENV.fetch("LEAK_BYTES", "20000"))
LEAK_KIND = ENV.fetch("LEAK_KIND", "string")
BIG_BYTES = Integer(ENV.fetch("BIG_BYTES", "50000"))
LEAKED = []
CACHE = {}

def ok(body, type = "text/plain") = [200, { "content-type" => type }, [body]]

ROUTES = {
  "/" => ->(_env) { ok("hello world\n") },
  "/leak" => lambda do |_env|
    LEAKED << (LEAK_KIND == "objects" ? Array.new(LEAK_BYTES / 40) { |i| "o#{i}" } : "x" * LEAK_BYTES)
    ok("kept #{LEAKED.size}\n")
  end,
  "/json" => ->(_env) { ok(JSON.generate(Array.new(50) { |i| { id: i, name: "item #{i}", tags: %w[a b c] } }), "application/json") },
  "/strings" => ->(_env) { ok(Array.new(200) { |i| "line #{i} " * 4 }.join("\n")[0, 100]) },
  "/big" => ->(_env) { ok(("y" * BIG_BYTES).sum.to_s) },
  "/compute" => ->(_env) { ok((1..3000).reduce(:+).to_s) },
  "/sleep" => ->(_env) { sleep 0.002; ok("slept\n") },
  "/hash" => ->(_env) { ok(Hash[Array.new(300) { |i| [i, i.to_s] }].size.to_s) },
  # A bounded cache: it grows for its first 500 distinct keys, then churns in place.
  "/cache" => lambda do |env|
    k = env["QUERY_STRING"].to_s.hash % 500
    CACHE[k] = "v" * 1000
    ok(CACHE.size.to_s)
  end
}.freeze

app = lambda do |env|
  path = env["PATH_INFO"]
  handler = ROUTES[path] || (path.start_with?("/users/") && ->(_e) { ok({ id: path[7..] }.to_json, "application/json") })
  handler ? handler.call(env) : [404, { "content-type" => "text/plain" }, ["not found\n"]]
end

use Memwatch::Attribution, sample_every: Integer(ENV.fetch("ATTRIBUTION_SAMPLE_EVERY", "1")) if ENV["ATTRIBUTION"] != "0"
# The ranking as JSON; ?raw adds the recorded intervals (for offline analysis).
if ENV["ATTRIBUTION"] != "0"
  map("/__attribution") do
    run(lambda do |env|
      report = Memwatch::Attribution.report
      report = report.merge("raw" => Memwatch::Attribution.recorder.snapshot[1]) if env["QUERY_STRING"] == "raw"
      [200, { "content-type" => "application/json" }, [JSON.generate(report)]]
    end)
  end
end
run app
