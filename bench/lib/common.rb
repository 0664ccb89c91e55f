# frozen_string_literal: true

require "etc"
require "json"
require "open3"
require "rbconfig"
require "timeout"

# Shared by the bench sections: summary statistics, wrk, process CPU, machine facts.
module Bench
  ROOT = File.expand_path("../..", __dir__)
  RESULTS = File.join(ROOT, "bench", "results")
  JEMALLOC = "/usr/lib/x86_64-linux-gnu/libjemalloc.so.2"

  module_function

  def quick? = ENV["BENCH_QUICK"] == "1"

  def mono = Process.clock_gettime(Process::CLOCK_MONOTONIC)

  # {median:, min:, max:, n:} of a list of numbers.
  def summary(values)
    v = values.compact.sort
    return { median: nil, min: nil, max: nil, n: 0 } if v.empty?

    mid = v.size / 2
    median = v.size.odd? ? v[mid] : (v[mid - 1] + v[mid]) / 2.0
    { median: median, min: v.first, max: v.last, n: v.size }
  end

  # Ratios of paired measurements (same round), then summarised.
  def paired(a, b) = summary(a.zip(b).filter_map { |x, y| x && y && y.nonzero? ? x.fdiv(y) : nil })

  def save(name, data)
    Dir.mkdir(RESULTS) unless Dir.exist?(RESULTS)
    File.write(File.join(RESULTS, "#{name}.json"), "#{JSON.pretty_generate(data)}\n")
  end

  def log(msg) = $stderr.puts("[bench #{Time.now.strftime("%H:%M:%S")}] #{msg}")

  # Runs a command with a deadline; kills its process group when late.
  def run!(cmd, env: {}, timeout: 600, chdir: ROOT)
    out = +""
    Open3.popen2e(env, *cmd, chdir: chdir, pgroup: true) do |_in, io, th|
      reader = Thread.new { out << io.read.to_s }
      unless th.join(timeout)
        Process.kill("KILL", -th.pid) rescue nil
        th.join
        raise "timed out after #{timeout}s: #{cmd.join(" ")}"
      end
      reader.join
      raise "failed (#{th.value.exitstatus}): #{cmd.join(" ")}\n#{out[-2000..] || out}" unless th.value.success?
    end
    out
  end

  # wrk against +url+: {rps:, p99_ms:, requests:, errors:}.
  def wrk(url, seconds:, connections: 8, threads: 2, script: nil, env: {})
    cmd = ["wrk", "-t#{threads}", "-c#{connections}", "-d#{seconds}s", "--latency"]
    cmd += ["-s", script] if script
    out = run!(cmd + [url], env: env, timeout: seconds + 60)
    { rps: out[/Requests\/sec:\s+([\d.]+)/, 1].to_f, p99_ms: latency(out[/^\s+99%\s+([\d.]+\w+)/, 1]),
      requests: out[/(\d+) requests in/, 1].to_i,
      errors: out[/Non-2xx or 3xx responses: (\d+)/, 1].to_i + out[/Socket errors:.*?(\d+)/, 1].to_i }
  end

  def latency(text)
    return nil unless text

    value = text.to_f
    case text[/[a-z]+\z/]
    when "us" then value / 1000.0
    when "s" then value * 1000.0
    when "m" then value * 60_000.0
    else value
    end
  end

  # User + system CPU seconds of +pids+ (from /proc/<pid>/stat; gone processes count 0).
  def cpu_seconds(pids)
    tck = Etc.sysconf(Etc::SC_CLK_TCK).to_f
    pids.sum do |pid|
      f = File.read("/proc/#{pid}/stat").split(") ").last.split
      (Integer(f[11]) + Integer(f[12])) / tck
    rescue SystemCallError, ArgumentError
      0.0
    end
  end

  # Machine, OS, Ruby, Puma, allocators, tools.
  def system_info
    cpu = File.read("/proc/cpuinfo")[/model name\s*:\s*(.+)/, 1]
    { cpu: cpu, cpus: Etc.nprocessors, memory_gb: (File.read("/proc/meminfo")[/MemTotal:\s+(\d+)/, 1].to_i / 1_048_576.0).round(1),
      kernel: `uname -r`.strip, os: File.read("/etc/os-release")[/PRETTY_NAME="(.+)"/, 1],
      ruby: RUBY_DESCRIPTION, puma: puma_version, glibc: `ldd --version 2>&1`.lines.first.to_s[/[\d.]+\s*\z/].to_s.strip,
      jemalloc: package_version("libjemalloc2"), wrk: package_version("wrk"), valgrind: `valgrind --version 2>/dev/null`.strip,
      load_average: File.read("/proc/loadavg").split.first(3).join(" "), date: Time.now.utc.strftime("%Y-%m-%d %H:%M UTC") }
  end

  def puma_version
    require_relative "puma_runner"
    PumaRunner.puma_version
  end

  def package_version(name) = `dpkg-query -W -f='${Version}' #{name} 2>/dev/null`.strip

  # Where gc_tracer was installed (nil when it would not build).
  def gc_tracer_home
    home = File.join(ROOT, "tmp", "bench-gems")
    return home if Dir[File.join(home, "gems", "gc_tracer-*")].any?

    ok = system("gem", "install", "--no-document", "--install-dir", home, "gc_tracer", out: File::NULL, err: File::NULL)
    ok ? home : nil
  end
end
