# frozen_string_literal: true

require_relative "../lib/puma_runner"

# Puma throughput, p99 latency and Puma CPU per request under wrk on 127.0.0.1, for
# the hello and allocation-heavy routes, single mode (4 threads) and workers 2, with
# each sampler configuration. Every round boots every configuration once, in a
# rotated order, so the comparisons are side by side; ratios are paired by round.
module Bench
  module PumaThroughput
    CONFIGS = {
      "none" => { "BENCH_MODE" => "none" },
      "loaded" => { "BENCH_MODE" => "loaded" },
      "memwatch 1s" => { "BENCH_MODE" => "memwatch", "BENCH_INTERVAL" => "1.0" },
      "memwatch 0.1s" => { "BENCH_MODE" => "memwatch", "BENCH_INTERVAL" => "0.1" },
      "naive 1s" => { "BENCH_MODE" => "naive", "BENCH_INTERVAL" => "1.0" },
      "naive 0.1s" => { "BENCH_MODE" => "naive", "BENCH_INTERVAL" => "0.1" },
      "gc_tracer" => { "BENCH_MODE" => "pergc" },
      "attribution" => { "BENCH_MODE" => "attribution" }
    }.freeze
    PATHS = { "hello" => "/", "alloc" => "/alloc" }.freeze
    RACKUP = File.join(ROOT, "bench/apps/bench_app.ru")

    module_function

    def run(only: nil)
      rounds = Integer(ENV.fetch("BENCH_ROUNDS", Bench.quick? ? 1 : 3)) # more rounds: tighter medians
      seconds = Bench.quick? ? 2 : 4
      configs = configs_available
      out = { "rounds" => rounds, "seconds" => seconds, "wrk" => "-t2 -c8", "threads" => 4,
              "gc_tracer" => configs.key?("gc_tracer") ? "gc_tracer 1.5.1 gem" : "not installed (skipped)", "cells" => {} }
      [0, 2].each do |workers|
        rounds.times do |r|
          names = configs.keys.rotate(r)
          names.each { |name| measure(out, configs[name], name, workers, seconds) }
        end
      end
      summarise(out, configs.keys)
      Bench.save("puma", out)
    end

    # BENCH_CONFIGS="none,attribution" runs a subset ("none" is always in: the base).
    def configs_available
      wanted = ENV["BENCH_CONFIGS"].to_s.split(",").map(&:strip)
      configs = wanted.empty? ? CONFIGS : CONFIGS.select { |k, _| %w[none loaded].include?(k) || wanted.include?(k) }
      return configs unless configs.key?("gc_tracer")

      home = Bench.gc_tracer_home
      return configs.reject { |k, _| k == "gc_tracer" } unless home

      configs.merge("gc_tracer" => configs["gc_tracer"].merge("GEM_PATH" => [home, *Gem.path].join(":")))
    end

    def measure(out, env, name, workers, seconds)
      Dir.mktmpdir do |dir|
        server = PumaRunner.new(RACKUP, log: File.join(dir, "puma.log"), env: env.merge("BENCH_LOG_DIR" => dir),
                                threads: 4, workers: workers)
        server.start
        begin
          Bench.wrk(server.url("/"), seconds: 1) # warm-up; starts the samplers in every worker
          PATHS.each do |app, path|
            pids = server.pids
            cpu0 = Bench.cpu_seconds(pids)
            res = Bench.wrk(server.url(path), seconds: seconds)
            res[:cpu_us_per_request] = ((Bench.cpu_seconds(pids) - cpu0) * 1e6 / [res[:requests], 1].max).round(1)
            (out["cells"]["#{app} w#{workers}"] ||= {})[name] ||= []
            out["cells"]["#{app} w#{workers}"][name] << res
          end
        ensure
          server.stop
        end
      end
      Bench.log("puma #{name} w#{workers} done")
    end

    # Ratios against "loaded" (memwatch and its endpoint loaded, nothing started): every
    # sampler config loads them, and a bigger boot heap alone means fewer GCs per request
    # (a few % here), which would flatter every sampler against "none".
    def summarise(out, names)
      out["summary"] = out["cells"].to_h do |cell, by|
        base = by["loaded"] || by["none"]
        [cell, names.to_h do |n|
          runs = by[n] || []
          [n, { "rps" => Bench.summary(runs.map { |x| x[:rps] }), "p99_ms" => Bench.summary(runs.map { |x| x[:p99_ms] }),
                "cpu_us_per_request" => Bench.summary(runs.map { |x| x[:cpu_us_per_request] }),
                "rps_ratio" => Bench.paired(runs.map { |x| x[:rps] }, base.map { |x| x[:rps] }),
                "cpu_ratio" => Bench.paired(runs.map { |x| x[:cpu_us_per_request] }, base.map { |x| x[:cpu_us_per_request] }) }]
        end]
      end
    end
  end
end
