# frozen_string_literal: true

# Instructions of bench/alloc_loop.rb under callgrind (deterministic): none, memwatch
# loaded but not started, memwatch sampling at 1 s, and a naive Ruby sampler thread.
# Each mode runs twice (ITER_A and ITER_B iterations); the difference is the loop's
# own cost, free of start-up (Memwatch.start itself costs ~40M instructions once: it
# loads the classifier and friends), so the ratio is per iteration of an allocating
# loop. Caveat: valgrind slows the program ~50x but not the clock, so a time-driven
# sampler ticks ~50x more often per iteration than it would natively; its cost here
# is an upper bound. A GC event hook (gc_tracer) would show as a per-allocation cost.
module Bench
  module Callgrind
    MODES = %w[none loaded memwatch naive].freeze

    module_function

    def run
      a, b = Bench.quick? ? [50_000, 250_000] : [200_000, 1_000_000]
      out = { "iterations" => [a, b], "modes" => {} }
      MODES.each do |mode|
        ir = [a, b].map { |n| instructions(mode, n) }
        out["modes"][mode] = { "ir" => ir, "loop_ir" => ir[1] - ir[0], "ir_per_iteration" => ((ir[1] - ir[0]).fdiv(b - a)).round(1) }
        Bench.log("callgrind #{mode}: #{ir.inspect}")
      end
      base = out["modes"]["none"]["loop_ir"]
      out["modes"].each_value { |m| m["ratio"] = m["loop_ir"].fdiv(base).round(4) }
      # Loading memwatch changes the heap the loop starts with (and so its GC work):
      # sampling is compared with "loaded", the same heap without the sampler.
      out["modes"]["memwatch"]["ratio_to_loaded"] = out["modes"]["memwatch"]["loop_ir"].fdiv(out["modes"]["loaded"]["loop_ir"]).round(4)
      Bench.save("callgrind", out)
    end

    def instructions(mode, n)
      Dir.mktmpdir do |dir|
        file = File.join(dir, "cg.out")
        Bench.run!(["valgrind", "--tool=callgrind", "--callgrind-out-file=#{file}", RbConfig.ruby, "-I#{ROOT}/lib",
                    File.join(ROOT, "bench/alloc_loop.rb"), mode, n.to_s, "1.0"], timeout: 1200)
        Integer(File.read(file)[/^summary:\s+(\d+)/, 1] || File.read(file)[/^totals:\s+(\d+)/, 1])
      end
    end
  end
end
