# frozen_string_literal: true

require_relative "../../lib/memwatch/config"

# Per-tick cost of the sampler, split by source, next to the physical limit: the
# same reads in a tight C loop (bench/c/tick_probe.c). The real sampler's CPU per
# tick is memwatch_cpu_seconds / ticks of a process sampling every 10 ms with a log,
# under glibc and with jemalloc preloaded; both are run in alternating rounds. The C
# loop runs hot (caches warm, every 1 µs); a tick every 10 ms runs cold, which is part
# of the ratio, so the probe gives both: each op in a tight loop (hot) and once every
# 10 ms (cold), inside a Ruby process that loaded memwatch but does not sample.
module Bench
  module TickCost
    module_function

    def run
      probe = build_probe
      seconds = Bench.quick? ? 3 : 8
      rounds = Bench.quick? ? 1 : 3
      out = { "seconds_per_run" => seconds, "rounds" => rounds, "allocators" => {} }
      %w[glibc jemalloc].each { |a| out["allocators"][a] = { "probe" => [], "sampler_ns_per_tick" => [] } }
      rounds.times do
        %w[glibc jemalloc].each do |alloc|
          env = alloc == "jemalloc" ? { "LD_PRELOAD" => JEMALLOC } : {}
          out["allocators"][alloc]["probe"] << probe_run(probe, env)
          out["allocators"][alloc]["sampler_ns_per_tick"] << sampler_run(env, seconds)
        end
      end
      out["allocators"].each_value { |v| summarise(v) }
      Bench.save("tick_cost", out)
    end

    # The probe as a bench-only Ruby extension (tmp/bench/ext), so it measures inside
    # a Ruby process like the one being compared.
    def build_probe
      dir = File.join(ROOT, "tmp", "bench", "ext")
      FileUtils.mkdir_p(dir)
      Bench.run!([RbConfig.ruby, File.join(ROOT, "bench/c/extconf.rb")], chdir: dir)
      Bench.run!(["make"], chdir: dir)
      dir
    end

    # {op => cold ns} (and "hot:op" => ns of the tight loop) in a process that loaded
    # memwatch but does not sample.
    def probe_run(dir, env)
      script = "require 'memwatch'; require 'tick_probe'; sleep 1; TickProbe.run(ARGV[0], #{Bench.quick? ? 30 : 100})"
      Dir.mktmpdir do |tmp|
        lines = Bench.run!([RbConfig.ruby, "-I#{ROOT}/lib", "-I#{dir}", "-e", script, File.join(tmp, "row.tsv")], env: env, timeout: 300).lines
        ops = lines.grep(/\A\{/).map { |l| JSON.parse(l) }.select { |h| h["op"] }
        ops.to_h { |h| [h["op"], h["cold_ns"]] }.merge(ops.to_h { |h| ["hot:#{h["op"]}", h["median_ns"]] })
      end
    end

    # ns of sampler-thread CPU per tick (includes the log row), after a 1 s warm-up
    # so that start-up (opening files, the header, the first smaps walk) is not in it.
    def sampler_run(env, seconds)
      script = <<~RUBY
        require "memwatch"
        dir = ARGV[0]
        Memwatch.start(interval: 0.01, log: dir, verdict_interval: 3600)
        sleep 1
        a = Memwatch.stats
        sleep #{seconds}
        b = Memwatch.stats
        Memwatch.stop
        puts (b[:cpu_seconds] - a[:cpu_seconds]) * 1e9 / (b[:ticks] - a[:ticks])
      RUBY
      Dir.mktmpdir do |dir|
        Float(Bench.run!([RbConfig.ruby, "-I#{ROOT}/lib", "-e", script, dir], env: env, timeout: seconds + 60).lines.last)
      end
    end

    # The cadences a default tick at 10 ms follows (Memwatch::Config decides them).
    def cadences
      c = Memwatch::Config.new(env: {}, interval: 0.01)
      { "status" => c.status_ticks, "smaps_rollup" => c.pss_ticks, "meminfo" => c.meminfo_ticks }
    end

    # Physical limit of a default tick: statm (status on every status_ticks-th), the
    # cgroup, the allocator, the log row and the CPU clock every tick; smaps_rollup and
    # meminfo every pss_ticks / meminfo_ticks.
    def summarise(v)
      ops = v["probe"].flat_map(&:keys).uniq.sort_by { |k| [k.start_with?("hot:") ? 1 : 0, k] }
      v["probe_ns"] = ops.to_h { |op| [op, Bench.summary(v["probe"].map { |p| p[op] })] }
      every = cadences
      v["cadences"] = every
      limits = v["probe"].map do |p|
        p["statm"] * (1 - 1.0 / every["status"]) + p["status"] / every["status"] + p["cgroup"] + p["allocator"] +
          p["log_row"] + p["thread_cputime"] + p["smaps_rollup"] / every["smaps_rollup"] + p["meminfo"] / every["meminfo"]
      end
      v["limit_ns_per_tick"] = Bench.summary(limits)
      v["sampler_ns"] = Bench.summary(v["sampler_ns_per_tick"])
      v["ratio_to_limit"] = Bench.paired(v["sampler_ns_per_tick"], limits)
    end
  end
end
