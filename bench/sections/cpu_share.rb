# frozen_string_literal: true

# "A Ruby process sampling every 0.1 s and logging every tick for a minute spends
# < 0.1% of one core in memwatch": the sampler pthread's CPU (memwatch_cpu_seconds)
# plus the memwatch-gc Ruby thread's CPU (/proc/self/task/*/schedstat, by name),
# over wall time. The main thread does light steady work meanwhile.
module Bench
  module CpuShare
    SCRIPT = <<~RUBY
      require "memwatch"
      require "json"
      seconds = Float(ARGV[1])
      Memwatch.start(interval: 0.1, log: ARGV[0])
      t0 = Process.clock_gettime(Process::CLOCK_MONOTONIC)
      deadline = t0 + seconds
      while Process.clock_gettime(Process::CLOCK_MONOTONIC) < deadline
        200.times { |i| "w\#{i}" }
        sleep 0.01
      end
      wall = Process.clock_gettime(Process::CLOCK_MONOTONIC) - t0
      # schedstat: nanoseconds on CPU (stat's clock ticks are 10 ms: too coarse here).
      gc_thread = Dir["/proc/self/task/*"].sum do |t|
        next 0 unless File.read("\#{t}/comm").strip.start_with?("memwatch-gc")
        Integer(File.read("\#{t}/schedstat").split.first) / 1e9
      end
      stats = Memwatch.stats
      Memwatch.stop
      rows = File.foreach(Memwatch.log_path).count { |l| l.start_with?("sample") } rescue nil
      puts JSON.generate(wall: wall, sampler_cpu: stats[:cpu_seconds], gc_thread_cpu: gc_thread,
                         ticks: stats[:ticks], log_rows: rows)
    RUBY

    module_function

    def run
      seconds = Bench.quick? ? 15 : 60
      Dir.mktmpdir do |dir|
        out = JSON.parse(Bench.run!([RbConfig.ruby, "-I#{ROOT}/lib", "-e", SCRIPT, dir, seconds.to_s], timeout: seconds + 60).lines.last)
        out["percent_of_core"] = ((out["sampler_cpu"] + out["gc_thread_cpu"]) / out["wall"] * 100).round(4)
        out["sampler_percent"] = (out["sampler_cpu"] / out["wall"] * 100).round(4)
        out["gc_thread_percent"] = (out["gc_thread_cpu"] / out["wall"] * 100).round(4)
        Bench.save("cpu_share", out)
      end
    end
  end
end
