# frozen_string_literal: true

# `memwatch heap summary` vs heapy (Debian's ruby-heapy) on the same ~1M-object dump:
# bench/heap_summary.rb does the measuring (fresh processes, median of the runs); this
# section runs it and keeps its table and its "N× faster" lines for RESULTS.md.
module Bench
  module HeapSummary
    module_function

    def run
      objects = Bench.quick? ? 200_000 : 1_000_000
      runs = Bench.quick? ? 1 : 3
      out = Bench.run!([RbConfig.ruby, File.join(ROOT, "bench/heap_summary.rb"), "--objects", objects.to_s,
                        "--runs", runs.to_s], timeout: 1800)
      lines = out.lines.map(&:rstrip).reject { |l| l.start_with?("generating", "heapy not found") }
      Bench.save("heap_summary", { "objects" => objects, "runs" => runs, "heapy" => system("command -v heapy >/dev/null 2>&1"),
                                   "markdown" => lines.join("\n").strip })
    end
  end
end
