# frozen_string_literal: true

# Benchmarks: not part of `rake test`. See bench/run.rb for the sections and options.
desc "Run the benchmarks (~15 min) and write bench/RESULTS.md and doc/readme-overhead.md"
task bench: :compile do
  ruby "bench/run.rb"
end

namespace :bench do
  desc "Short benchmark run (one round, short loads: ~4 min) -- numbers are rough"
  task quick: :compile do
    ENV["BENCH_QUICK"] = "1"
    ruby "bench/run.rb"
  end

  desc "Instruction counts of bench/alloc_loop.rb under callgrind (none/loaded/memwatch/naive)"
  task callgrind: :compile do
    ENV["BENCH_ONLY"] = "callgrind"
    ruby "bench/run.rb"
  end

  desc "Regenerate bench/RESULTS.md and doc/readme-overhead.md from bench/results/*.json"
  task :report do
    ruby "-e", "require './bench/lib/common'; require './bench/report'; Bench::Report.write"
  end
end
