# frozen_string_literal: true

module Bench
  # Markdown tables from bench/results/*.json (one method per section; nil = no data).
  module ReportTables
    module_function

    def fmt(v, digits = 0)
      return "–" if v.nil?

      digits.zero? ? v.round.to_s.reverse.scan(/\d{1,3}/).join(",").reverse.then { |s| v.negative? ? "-#{s}" : s } : format("%.#{digits}f", v)
    end

    # "median [min–max]"
    def mmm(s, digits = 0, scale = 1.0)
      return "–" if s.nil? || s["median"].nil?

      "#{fmt(s["median"] * scale, digits)} [#{fmt(s["min"] * scale, digits)}–#{fmt(s["max"] * scale, digits)}]"
    end

    def table(header, rows)
      ["| #{header.join(" | ")} |", "|#{header.map { "---" }.join("|")}|", *rows.map { |r| "| #{r.join(" | ")} |" }].join("\n")
    end

    def puma(d)
      return nil unless d && d["summary"]

      rows = d["summary"].flat_map do |cell, by|
        by.map do |name, s|
          [cell, name, mmm(s["rps"]), name == "loaded" ? "1" : mmm(s["rps_ratio"], 3), mmm(s["cpu_us_per_request"], 1),
           name == "loaded" ? "1" : mmm(s["cpu_ratio"], 3), mmm(s["p99_ms"], 1)]
        end
      end
      table(["app, workers", "sampler", "req/s", "req/s ÷ loaded (paired)", "Puma CPU µs/req", "CPU/req ÷ loaded", "p99 ms"], rows)
    end

    def tick(d)
      return nil unless d && d["allocators"]

      ops = %w[statm status cgroup smaps_rollup meminfo allocator log_row thread_cputime]
      rows = ops.map do |op|
        [op, *d["allocators"].values.flat_map { |v| [mmm(v.dig("probe_ns", op)), mmm(v.dig("probe_ns", "hot:#{op}"))] }]
      end
      rows << ["**physical limit of one tick (cold)**", *d["allocators"].values.flat_map { |v| ["**#{mmm(v["limit_ns_per_tick"])}**", ""] }]
      rows << ["**memwatch sampler, CPU per tick**", *d["allocators"].values.flat_map { |v| ["**#{mmm(v["sampler_ns"])}**", ""] }]
      rows << ["ratio sampler / limit", *d["allocators"].values.flat_map { |v| [mmm(v["ratio_to_limit"], 2), ""] }]
      table(["ns per operation", *d["allocators"].keys.flat_map { |a| ["#{a}: every 10 ms (cold)", "#{a}: tight loop (hot)"] }], rows)
    end

    def dump(d)
      return nil unless d && d["summary"]

      rows = d["summary"].flat_map do |n, s|
        f, i, st = s["forked"], s["in_process"], s.dig("forked", "stream")
        [[fmt(n.to_i), "forked: the dump", mmm(f["stall_ms"], 1), mmm(f["raw_stall_ms"], 1), mmm(f["lost_ms"], 1), mmm(f["worker_cpu_ms"]), mmm(f["seconds"], 2)],
         ["", "forked: then streaming the file", mmm(st&.dig("stall_ms"), 1), mmm(st&.dig("raw_stall_ms"), 1), mmm(st&.dig("lost_ms"), 1),
          mmm(st&.dig("worker_cpu_ms")), mmm(st&.dig("seconds"), 2)],
         ["", "in-process dump_all", mmm(i["stall_ms"], 1), mmm(i["raw_stall_ms"], 1), mmm(i["lost_ms"], 1), mmm(i["worker_cpu_ms"]), mmm(i["seconds"], 2)],
         ["", "ratio in-process ÷ forked dump", mmm(s["stall_ratio"], 1), "", mmm(s["lost_ratio"], 1), mmm(s["cpu_ratio"], 1), ""]]
      end
      table(["extra live objects", "phase", "longest GVL stall ms", "longest wall gap ms", "total GVL stall ms",
             "worker CPU ms", "seconds"], rows)
    end

    def routes(d)
      return nil unless d && d["summary"]

      rows = d["summary"].map { |name, s| [name, mmm(s["rps"]), mmm(s["ratio_to_hello"], 3), mmm(s["p99_ms"], 1)] }
      out = table(["route", "req/s", "ratio to hello (paired)", "p99 ms"], rows)
      d["missing"]&.any? ? "#{out}\n\nNot served (skipped): #{d["missing"].join(", ")}." : out
    end

    def callgrind(d)
      return nil unless d && d["modes"]

      rows = d["modes"].map do |m, v|
        [m, fmt(v["ir"][1]), fmt(v["loop_ir"]), fmt(v["ir_per_iteration"], 1), format("%.4f", v["ratio"]),
         v["ratio_to_loaded"] ? format("%.4f", v["ratio_to_loaded"]) : ""]
      end
      table(["mode", "total instructions, #{fmt(d["iterations"][1])} iterations", "loop only (#{fmt(d["iterations"][1] - d["iterations"][0])} iterations)",
             "per iteration", "loop ratio to none", "loop ratio to loaded"], rows)
    end
  end
end
