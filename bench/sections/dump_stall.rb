# frozen_string_literal: true

# How long the serving process stops during a heap dump: the endpoint's forked dump
# (POST /heap_dump on Memwatch::App, body streamed to /dev/null as a server would)
# against an in-process ObjectSpace.dump_all, with 100k / 1M / 3M extra live objects.
# A ticker thread sleeps 1 ms in a loop; the stall is its longest gap, minus 1 ms and
# minus the time it spent running or queued for a CPU (/proc/self/task/TID/schedstat),
# so that a busy machine's CPU starvation is not counted as the dump's stall (raw_*:
# the same without that correction). worker_cpu_ms: CPU the serving process spent.
# lost_ms adds up every gap over 2 ms (time the thread wanted to run and could not).
# For the forked dump the request is split in two: the dump (fork, the child dumps,
# the file is ready: what the fork is for) and streaming the file to the client
# (which any dump over HTTP costs; an in-process dump would do it inline).
# Each size and mode runs in a fresh process; the modes alternate.
module Bench
  module DumpStall
    SCRIPT = <<~'RUBY'
      require "memwatch"
      require "memwatch/app"
      require "objspace"
      require "json"
      require "logger"
      require "stringio"
      mode, n, dir = ARGV[0], Integer(ARGV[1]), ARGV[2]
      def ms(gap) = ((gap - 0.001) * 1000).round(2)
      HEAP = Array.new(n) { |i| case i % 4 when 0 then "s#{i}" when 1 then [i, i] when 2 then { i => i } else Object.new end }
      GC.start
      max_gap = raw_max = 0.0
      lost = raw_lost = 0.0
      stop = false
      ticker = Thread.new do
        sched = File.open("/proc/self/task/#{Thread.current.native_thread_id}/schedstat")
        on_cpu_or_queued = -> { sched.pread(128, 0).split.first(2).sum { |f| Integer(f) } / 1e9 }
        until stop
          t = Process.clock_gettime(Process::CLOCK_MONOTONIC)
          c = on_cpu_or_queued.call
          sleep 0.001
          raw = Process.clock_gettime(Process::CLOCK_MONOTONIC) - t
          raw_max = raw if raw > raw_max
          raw_lost += raw - 0.001 if raw > 0.002
          # Minus the time it ran or waited for a CPU: what is left is time it was
          # held off the GVL (the box is shared; CPU starvation is not the dump's doing).
          gap = raw - (on_cpu_or_queued.call - c)
          max_gap = gap if gap > max_gap
          lost += gap - 0.001 if gap > 0.002
        end
      end
      sleep 0.3
      idle_gap = max_gap
      max_gap = raw_max = 0.0
      lost = raw_lost = 0.0
      cpu = -> { Process.clock_gettime(Process::CLOCK_PROCESS_CPUTIME_ID) }
      cpu0 = cpu.call
      t0 = Process.clock_gettime(Process::CLOCK_MONOTONIC)
      call = nil
      if mode == "in_process"
        File.open(File.join(dir, "dump.json"), "w") { |f| ObjectSpace.dump_all(output: f) }
        bytes = File.size(File.join(dir, "dump.json"))
      else
        token = "bench-token-0123456789abcdef"
        app = Memwatch::App.new(token: token, token_env: nil, dumps: true, dump_dir: File.join(dir, "d"),
                                dump_cooldown: 0, logger: Logger.new(StringIO.new))
        env = { "REQUEST_METHOD" => "POST", "PATH_INFO" => "/heap_dump", "SCRIPT_NAME" => "", "QUERY_STRING" => "gzip=0",
                "SERVER_NAME" => "localhost", "SERVER_PORT" => "80", "REMOTE_ADDR" => "127.0.0.1",
                "HTTP_AUTHORIZATION" => "Bearer #{token}", "rack.input" => StringIO.new(""), "rack.url_scheme" => "http",
                "rack.errors" => $stderr }
        status, _h, body = app.call(env)
        raise "heap_dump answered #{status}: #{body.to_a.join[0, 200]}" unless status == 200
        call = { stall_ms: ms(max_gap), lost_ms: (lost * 1000).round(2), raw_stall_ms: ms(raw_max),
                 raw_lost_ms: (raw_lost * 1000).round(2), seconds: (Process.clock_gettime(Process::CLOCK_MONOTONIC) - t0).round(3),
                 worker_cpu_ms: ((cpu.call - cpu0) * 1000).round(1) }
        max_gap = raw_max = 0.0
        lost = raw_lost = 0.0
        cpu0 = cpu.call
        bytes = 0
        File.open(File::NULL, "w") { |null| body.each { |c| bytes += c.bytesize; null.write(c) } }
        body.close if body.respond_to?(:close)
      end
      seconds = Process.clock_gettime(Process::CLOCK_MONOTONIC) - t0
      sleep 0.05
      stop = true
      ticker.join
      now = { stall_ms: ms(max_gap), lost_ms: (lost * 1000).round(2), raw_stall_ms: ms(raw_max),
              raw_lost_ms: (raw_lost * 1000).round(2), worker_cpu_ms: ((cpu.call - cpu0) * 1000).round(1) }
      out = { mode: mode, objects: n, idle_gap_ms: ms(idle_gap), bytes: bytes }
      if call # forked: the dump itself (fork, child dumps, file ready), then streaming the file
        out.merge!(call, stream: now.merge(seconds: (seconds - call[:seconds]).round(3)))
      else
        out.merge!(now, seconds: seconds.round(3))
      end
      puts JSON.generate(out)
    RUBY

    module_function

    def metrics(runs)
      %w[stall_ms lost_ms raw_stall_ms raw_lost_ms worker_cpu_ms seconds idle_gap_ms].to_h { |k| [k, Bench.summary(runs.map { |x| x[k] })] }
    end

    def run
      sizes = Bench.quick? ? [100_000, 1_000_000] : [100_000, 1_000_000, 3_000_000]
      reps = Bench.quick? ? 1 : 2
      out = { "sizes" => sizes, "reps" => reps, "runs" => [] }
      sizes.each do |n|
        reps.times do |r|
          %w[forked in_process].rotate(r).each do |mode|
            Dir.mktmpdir do |dir|
              line = Bench.run!([RbConfig.ruby, "-I#{ROOT}/lib", "-e", SCRIPT, mode, n.to_s, dir], timeout: 600).lines.last
              out["runs"] << JSON.parse(line)
            end
          end
        end
        Bench.log("dump #{n} done")
      end
      out["summary"] = sizes.to_h do |n|
        by = %w[forked in_process].to_h { |m| [m, out["runs"].select { |x| x["objects"] == n && x["mode"] == m }] }
        [n.to_s, by.transform_values { |runs| metrics(runs).merge("stream" => metrics(runs.map { |x| x["stream"] || {} }),
                                                                "bytes" => runs.first&.fetch("bytes")) }
          .merge("lost_ratio" => Bench.paired(by["in_process"].map { |x| x["lost_ms"] }, by["forked"].map { |x| [x["lost_ms"], 0.01].max }),
                 "cpu_ratio" => Bench.paired(by["in_process"].map { |x| x["worker_cpu_ms"] }, by["forked"].map { |x| [x["worker_cpu_ms"], 0.1].max }),
                 "stall_ratio" => Bench.paired(by["in_process"].map { |x| x["stall_ms"] }, by["forked"].map { |x| [x["stall_ms"], 0.01].max }))]
      end
      Bench.save("dump_stall", out)
    end
  end
end
