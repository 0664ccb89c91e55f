# frozen_string_literal: true

require_relative "../lib/puma_runner"

# The endpoint's read routes (status, samples, metrics) against a hello-world route on
# the same Puma (single mode, 4 threads, memwatch sampling at 1 s), measured in
# alternating rounds.
module Bench
  module Routes
    ROUTES = { "hello" => "/", "status" => "/memwatch/status", "samples" => "/memwatch/samples?limit=60",
               "metrics" => "/memwatch/metrics", "attribution" => "/memwatch/attribution" }.freeze

    module_function

    def run
      rounds = Bench.quick? ? 1 : 3
      seconds = Bench.quick? ? 2 : 4
      out = { "rounds" => rounds, "seconds" => seconds, "runs" => Hash.new { |h, k| h[k] = [] } }
      Dir.mktmpdir do |dir|
        server = PumaRunner.new(File.join(ROOT, "bench/apps/bench_app.ru"), log: File.join(dir, "puma.log"),
                                env: { "BENCH_MODE" => "attribution", "BENCH_LOG_DIR" => dir }, threads: 4).start
        begin
          Bench.wrk(server.url("/"), seconds: 1)
          available = ROUTES.select { |_, path| server.get(path).code == "200" }
          rounds.times do |r|
            available.keys.rotate(r).each { |name| out["runs"][name] << Bench.wrk(server.url(available[name]), seconds: seconds) }
          end
          out["missing"] = ROUTES.keys - available.keys
        ensure
          server.stop
        end
      end
      hello = out["runs"]["hello"].map { |x| x[:rps] }
      out["summary"] = out["runs"].to_h do |name, runs|
        [name, { "rps" => Bench.summary(runs.map { |x| x[:rps] }), "p99_ms" => Bench.summary(runs.map { |x| x[:p99_ms] }),
                 "ratio_to_hello" => Bench.paired(runs.map { |x| x[:rps] }, hello) }]
      end
      Bench.save("routes", out)
    end
  end
end
