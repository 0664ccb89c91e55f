# frozen_string_literal: true

require_relative "../lib/puma_runner"

# Per-request cost of Memwatch::Attribution, in-process: a trivial Rack app called
# N times with and without the middleware, in alternating rounds, CPU time per call.
# Then on a real Puma (single mode, 4 threads): the middleware against a no-op one in
# the same place, sampler running in both (bench/apps/attribution_ab.ru), alternating.
module Bench
  module AttributionCost
    SCRIPT = <<~'RUBY'
      require "memwatch"
      require "memwatch/attribution"
      require "json"
      n, rounds = Integer(ARGV[0]), Integer(ARGV[1])
      inner = ->(_env) { [200, {}, ["ok"]] }
      wrapped = Memwatch::Attribution.new(inner)
      env = { "REQUEST_METHOD" => "GET", "PATH_INFO" => "/users/42", "SCRIPT_NAME" => "", "QUERY_STRING" => "" }
      cpu = -> { Process.clock_gettime(Process::CLOCK_PROCESS_CPUTIME_ID) }
      Memwatch.start(interval: 1.0) if ARGV[2] == "sampler"
      res = { "off" => [], "on" => [] }
      rounds.times do |r|
        %w[off on].rotate(r).each do |mode|
          app = mode == "on" ? wrapped : inner
          t = cpu.call
          n.times { app.call(env) }
          res[mode] << (cpu.call - t) / n * 1e9
        end
      end
      puts JSON.generate(res)
    RUBY

    module_function

    def run
      n = Bench.quick? ? 50_000 : 200_000
      rounds = Bench.quick? ? 3 : 7
      res = JSON.parse(Bench.run!([RbConfig.ruby, "-I#{ROOT}/lib", "-e", SCRIPT, n.to_s, rounds.to_s, "sampler"], timeout: 600).lines.last)
      extra = res["on"].zip(res["off"]).map { |a, b| a - b }
      Bench.save("attribution_cost", { "calls_per_round" => n, "rounds" => rounds, "off_ns" => Bench.summary(res["off"]),
                                       "on_ns" => Bench.summary(res["on"]), "extra_ns_per_request" => Bench.summary(extra),
                                       "puma" => puma_ab })
    end

    def puma_ab
      rounds = Bench.quick? ? 2 : 5
      seconds = Bench.quick? ? 2 : 4
      runs = { "noop" => [], "full" => [] }
      rounds.times do |r|
        %w[noop full].rotate(r).each do |mode|
          Dir.mktmpdir do |dir|
            server = PumaRunner.new(File.join(ROOT, "bench/apps/attribution_ab.ru"), log: File.join(dir, "puma.log"),
                                    env: { "BENCH_MODE" => mode }, threads: 4).start
            begin
              Bench.wrk(server.url("/"), seconds: 1)
              pids = server.pids
              cpu0 = Bench.cpu_seconds(pids)
              res = Bench.wrk(server.url("/"), seconds: seconds)
              res[:cpu_us_per_request] = ((Bench.cpu_seconds(pids) - cpu0) * 1e6 / [res[:requests], 1].max).round(2)
              runs[mode] << res
            ensure
              server.stop
            end
          end
        end
      end
      cpu = ->(m) { runs[m].map { |x| x[:cpu_us_per_request] } }
      rps = ->(m) { runs[m].map { |x| x[:rps] } }
      { "rounds" => rounds, "seconds" => seconds, "noop_cpu_us" => Bench.summary(cpu.("noop")), "full_cpu_us" => Bench.summary(cpu.("full")),
        "extra_cpu_us" => Bench.summary(cpu.("full").zip(cpu.("noop")).map { |a, b| a - b }),
        "cpu_ratio" => Bench.paired(cpu.("full"), cpu.("noop")), "rps_ratio" => Bench.paired(rps.("full"), rps.("noop")) }
    end
  end
end
