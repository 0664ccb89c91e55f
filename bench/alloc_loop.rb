# frozen_string_literal: true

# An allocation-heavy loop for instruction counting under callgrind
# (bench/callgrind.sh): deterministic work, with or without memwatch.
# Usage: ruby bench/alloc_loop.rb [none|loaded|memwatch|naive] [iterations] [interval]
mode = ARGV[0] || "none"
n = Integer(ARGV[1] || 2_000_000)
interval = Float(ARGV[2] || 1.0)

case mode
when "loaded" # the cost of require alone, to separate it from sampling
  require "memwatch"
when "memwatch"
  require "memwatch"
  Memwatch.start(interval: interval)
when "naive"
  # What exporters and worker killers do: a Ruby thread reading GC.stat and /proc.
  Thread.new do
    loop do
      GC.stat
      File.read("/proc/self/status")
      sleep interval
    end
  end
end

i = 0
while i < n
  "x#{i}"
  [i, i]
  i += 1
end
