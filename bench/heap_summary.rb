# frozen_string_literal: true

# `memwatch heap summary` against heapy (Debian's ruby-heapy) on the same ~1M-object
# dump, side by side: wall time, CPU time and peak RSS of each command.
#
#   ruby bench/heap_summary.rb [--objects N] [--runs N] [--dump FILE] [--keep]
#
# The dump is made by a child Ruby (ObjectSpace.dump_all with allocation tracing on, like
# a dump taken through the endpoint) unless --dump gives one. Each command runs in a fresh
# wrapper process, so getrusage(RUSAGE_CHILDREN).ru_maxrss is that command's peak RSS.
require "fiddle"
require "optparse"
require "rbconfig"
require "tmpdir"

ROOT = File.expand_path("..", __dir__)

GENERATOR = <<~'RUBY'
  require "objspace"
  class Widget; def initialize(i) = (@id = i; @name = "widget-#{i}"; @tags = [:a, i]); end
  n = Integer(ARGV[1])
  ObjectSpace.trace_object_allocations_start
  keep = Array.new(n / 5) { |i| Widget.new(i) }                     # 3 objects each
  keep.concat(Array.new(n / 5) { |i| { id: i, "k#{i % 100}" => i.to_s } }) # 2 each (keys are shared)
  GC.start
  File.open(ARGV[0], "w") { |f| ObjectSpace.dump_all(output: f) }
RUBY

# Runs argv in a wrapper Ruby that reports the child's wall time, CPU and peak RSS.
WRAPPER = <<~'RUBY'
  require "fiddle"
  t = Process.clock_gettime(Process::CLOCK_MONOTONIC)
  pid = Process.spawn(*ARGV, out: File::NULL, err: File::NULL)
  _, status = Process.wait2(pid)
  wall = Process.clock_gettime(Process::CLOCK_MONOTONIC) - t
  getrusage = Fiddle::Function.new(Fiddle::Handle::DEFAULT["getrusage"], [Fiddle::TYPE_INT, Fiddle::TYPE_VOIDP], Fiddle::TYPE_INT)
  buf = Fiddle::Pointer.malloc(256)
  getrusage.call(-1, buf) # RUSAGE_CHILDREN
  utime, usec, stime, ssec, maxrss = buf[0, 40].unpack("q5")
  cpu = utime + usec / 1e6 + stime + ssec / 1e6
  puts [status.success? ? 0 : 1, wall, cpu, maxrss * 1024].join(" ")
RUBY

options = { objects: 1_000_000, runs: 3, dump: nil, keep: false }
OptionParser.new do |o|
  o.on("--objects N", Integer, "objects in the generated dump (default 1,000,000)") { |n| options[:objects] = n }
  o.on("--runs N", Integer, "runs per command; the median is reported (default 3)") { |n| options[:runs] = n }
  o.on("--dump FILE", "use this dump instead of generating one") { |f| options[:dump] = f }
  o.on("--keep", "keep the generated dump") { options[:keep] = true }
end.parse!

# heapy is a system gem (Debian's ruby-heapy): under `bundle exec` (rake bench) it would
# inherit the bundle's load path and fail to find its own dependencies.
UNBUNDLED = %w[RUBYOPT RUBYLIB BUNDLE_GEMFILE BUNDLE_BIN_PATH BUNDLER_SETUP BUNDLER_VERSION GEM_HOME GEM_PATH].to_h { |k| [k, nil] }.freeze

def measure(argv, runs)
  env = argv.first == "heapy" ? UNBUNDLED : {}
  results = Array.new(runs) do
    line = IO.popen(env, [RbConfig.ruby, "-e", WRAPPER, *argv], &:read)
    ok, wall, cpu, rss = line.split
    raise "failed: #{argv.join(" ")}" unless ok == "0"

    [Float(wall), Float(cpu), Integer(rss)]
  end
  results.sort_by(&:first)[runs / 2]
end

def mb(bytes) = format("%.1f", bytes / 1048576.0)

dir = Dir.mktmpdir("memwatch-bench-heap")
begin
  dump = options[:dump] || File.join(dir, "heap.json")
  unless options[:dump]
    warn "generating a dump of ~#{options[:objects]} objects..."
    system(RbConfig.ruby, "-e", GENERATOR, dump, options[:objects].to_s, exception: true)
  end
  lines = File.foreach(dump).count
  memwatch = [RbConfig.ruby, "-I#{ROOT}/lib", "#{ROOT}/exe/memwatch", "heap", "summary", dump]
  commands = {
    "memwatch heap summary" => memwatch,
    "memwatch heap summary --threads 0 (one thread)" => memwatch + ["--threads", "0"],
    "heapy read (generations only)" => ["heapy", "read", dump],
    "heapy read all (by file:line)" => ["heapy", "read", dump, "all", "--lines", "20"]
  }
  heapy = system("command -v heapy >/dev/null 2>&1")
  warn "heapy not found (apt-get install ruby-heapy): measuring memwatch only" unless heapy
  puts "dump: #{dump}: #{lines} lines, #{mb(File.size(dump))} MB; median of #{options[:runs]} runs", ""
  puts "| command | wall s | CPU s | peak RSS MB |", "|---|---:|---:|---:|"
  rows = {}
  commands.each do |name, argv|
    next if argv.first == "heapy" && !heapy

    wall, cpu, rss = rows[name] = measure(argv, options[:runs])
    puts format("| %s | %.2f | %.2f | %s |", name, wall, cpu, mb(rss))
  end
  if heapy
    # Wall time is what a user waits; CPU time is what survives a busy shared machine.
    { "wall time" => 0, "CPU time" => 1 }.each do |what, i|
      base = rows["memwatch heap summary"][i]
      puts "", format("by %s, memwatch heap summary is %.1fx faster than `heapy read` and %.1fx faster than `heapy read all`",
                      what, rows["heapy read (generations only)"][i] / base, rows["heapy read all (by file:line)"][i] / base)
    end
  end
ensure
  options[:keep] ? warn("kept #{dump}") : FileUtils.rm_rf(dir)
end
