# frozen_string_literal: true

# rake bench: runs the sections, saves bench/results/<section>.json, then writes
# bench/RESULTS.md and doc/readme-overhead.md (bench/report.rb).
#   BENCH_QUICK=1        short runs, one round (a smoke test: ~4 minutes)
#   BENCH_ONLY=a,b       only these sections (names below)
#   BENCH_CALLGRIND=1    also the callgrind section (valgrind; ~5 more minutes)
#   BENCH_ROUNDS=N       rounds of the Puma section (default 3)
require "fileutils"
require "tmpdir"
require_relative "lib/common"
Dir[File.join(__dir__, "sections", "*.rb")].sort.each { |f| require f }

SECTIONS = {
  "system" => -> { Bench.save("system", Bench.system_info.merge(quick: Bench.quick?)) },
  "tick_cost" => -> { Bench::TickCost.run },
  "log_size" => -> { Bench::LogSize.run },
  "attribution_cost" => -> { Bench::AttributionCost.run },
  "dump_stall" => -> { Bench::DumpStall.run },
  "routes" => -> { Bench::Routes.run },
  "puma" => -> { Bench::PumaThroughput.run },
  "callgrind" => -> { Bench::Callgrind.run },
  "heap_summary" => -> { Bench::HeapSummary.run },
  "cpu_share" => -> {} # run in a thread beside the others (see below)
}.freeze

only = ENV["BENCH_ONLY"].to_s.split(",").map(&:strip)
unknown = only - SECTIONS.keys
abort "bench: unknown section(s) #{unknown.join(", ")} (known: #{SECTIONS.keys.join(", ")})" if unknown.any?
names = only.empty? ? SECTIONS.keys - (ENV["BENCH_CALLGRIND"] == "1" ? [] : ["callgrind"]) : only
names.unshift("system") if only.empty?

started = Bench.mono
# The CPU-share run measures CPU time, not wall time: it can share the box with the
# next sections (it does light work and sleeps), which keeps rake bench short.
share = Thread.new { Bench::CpuShare.run } if only.empty? || only.include?("cpu_share")
names.each do |name|
  Bench.log("#{name}...")
  SECTIONS.fetch(name).call
rescue StandardError => e
  Bench.log("#{name} FAILED: #{e.class}: #{e.message[0, 500]}")
  Bench.save(name, { "error" => "#{e.class}: #{e.message[0, 500]}" })
end
share&.join
Bench.log("all sections done in #{(Bench.mono - started).round} s")
require_relative "report"
Bench::Report.write
