# frozen_string_literal: true

module Bench
  # The README's "Overhead" section, generated from the same results as RESULTS.md.
  module Report
    module_function

    def readme_md(r)
      s = r["system"] || {}
      <<~MD
        ## Overhead

        Measured by `rake bench` on #{s["cpus"]} shared vCPUs (#{s["cpu"]}), #{s["ruby"].to_s[/ruby [\d.]+\S*/]}, Puma #{s["puma"]},
        #{span}; full tables and method in [bench/RESULTS.md](bench/RESULTS.md). Comparisons
        ran side by side in one run; ratios are median [min–max] of paired rounds.

        #{bullets(r).join("\n")}

        Reproduce with `rake bench` (≈15 min; `rake bench:quick` for a rough pass, `rake
        bench:callgrind` for instruction counts). Wall-clock numbers on a shared machine move by
        ±20–50% between identical runs; the CPU-per-request and instruction figures are the stable ones.
      MD
    end

    def bullets(r)
      [puma_bullet(r["puma"], r["tick_cost"]), tick_bullet(r["tick_cost"]), share_bullet(r["cpu_share"]), callgrind_bullet(r["callgrind"]),
       dump_bullet(r["dump_stall"]), heap_bullet(r["heap_summary"]), routes_bullet(r["routes"]), attribution_bullet(r), log_bullet(r["log_size"])].compact
    end

    def ratio(s, d = 3) = ReportTables.mmm(s, d)

    def puma_bullet(d, tick)
      return nil unless d && d["summary"]

      per_tick = tick&.dig("allocators", "glibc", "sampler_ns", "median")
      share = per_tick ? "#{format("%.3f", per_tick / 1e9 * 100)}% of a core at the default 1 s interval (glibc)" : "see below"

      cells = d["summary"].map do |cell, by|
        "#{cell}: memwatch 1 s #{ratio(by.dig("memwatch 1s", "rps_ratio"))}, 0.1 s #{ratio(by.dig("memwatch 0.1s", "rps_ratio"))}, " \
          "naive 1 s #{ratio(by.dig("naive 1s", "rps_ratio"))}, gc_tracer #{ratio(by.dig("gc_tracer", "rps_ratio"))}"
      end
      cpu = d["summary"].map { |cell, by| "#{cell} #{ratio(by.dig("memwatch 1s", "cpu_ratio"))}" }
      "- **Puma throughput** (req/s with ÷ without: the base has memwatch loaded but not started; wrk on 127.0.0.1): " \
        "#{cells.join("; ")}. Puma CPU per request, memwatch 1 s ÷ base: #{cpu.join("; ")}. " \
        "On this shared machine identical configurations differ by ±15% from round to round, so no sampler separates " \
        "from the base here; memwatch's real cost is bounded by the stable figures below (CPU per tick, instructions): " \
        "#{share}."
    end

    def tick_bullet(d)
      return nil unless d && d["allocators"]

      parts = d["allocators"].map do |a, v|
        "#{a}: #{ReportTables.fmt(v.dig("sampler_ns", "median").to_f / 1000, 1)} µs of CPU per tick vs " \
          "#{ReportTables.fmt(v.dig("limit_ns_per_tick", "median").to_f / 1000, 1)} µs for the same reads in a C loop (#{ratio(v["ratio_to_limit"], 2)}×)"
      end
      "- **Per tick**: #{parts.join("; ")}."
    end

    def share_bullet(d)
      return nil unless d && d["percent_of_core"]

      aim = d["percent_of_core"] < 0.1 ? "" : " — above the 0.1% we aim for: on this VM a tick's cold caches and " \
                                              "context switches cost more than its reads (see Per tick)"
      "- **Sampling every 0.1 s with a log row per tick** for #{d["wall"].round} s: #{d["percent_of_core"]}% of one core " \
        "(sampler pthread #{d["sampler_percent"]}%, memwatch-gc Ruby thread #{d["gc_thread_percent"]}% including the " \
        "classifier's runs)#{aim}."
    end

    def callgrind_bullet(d)
      return "- **Instructions** (callgrind, allocation-heavy loop, measured earlier): memwatch running = 1.0052× none; loaded only = 1.0039×; a naive Ruby sampler thread = 1.0053×." unless d && d["modes"]

      m = d["modes"]
      "- **Instructions** (callgrind, allocation-heavy loop bench/alloc_loop.rb, start-up excluded): memwatch sampling " \
        "#{format("%.4f", m.dig("memwatch", "ratio_to_loaded"))}× the same process with memwatch loaded but not started; a naive Ruby " \
        "sampler thread #{format("%.4f", m.dig("naive", "ratio"))}× none. No GC hook is installed, so allocations keep their fast path " \
        "(gc_tracer's hooks cost 1.12× on such a loop when measured the same way while designing memwatch; not re-run here)."
    end

    def dump_bullet(d)
      return nil unless d && d["summary"]

      f = ->(v) { ReportTables.fmt(v, 1) }
      parts = d["summary"].map do |n, s|
        "#{ReportTables.fmt(n.to_i)} objects: forked #{f.(s.dig("forked", "stall_ms", "median"))} ms longest stall and " \
          "#{ReportTables.fmt(s.dig("forked", "worker_cpu_ms", "median"))} ms of worker CPU vs in-process " \
          "#{f.(s.dig("in_process", "stall_ms", "median"))} ms and #{ReportTables.fmt(s.dig("in_process", "worker_cpu_ms", "median"))} ms; " \
          "streaming the file afterwards: #{f.(s.dig("forked", "stream", "stall_ms", "median"))} ms longest stall"
      end
      "- **Heap dump** (a ticker thread in the serving process; stalls exclude CPU starvation by other tenants): #{parts.join("; ")}."
    end

    def heap_bullet(d)
      faster = d && d["markdown"].to_s.lines.grep(/faster than/).first
      return nil unless faster

      "- **`memwatch heap summary`** on a #{ReportTables.fmt(d["objects"])}-object dump, #{faster.strip.sub(/\Aby /, "by ")} (heapy 0.2, Debian's ruby-heapy)."
    end

    def routes_bullet(d)
      return nil unless d && d["summary"]

      parts = d["summary"].reject { |k, _| k == "hello" }.map { |k, s| "#{k} #{ratio(s["ratio_to_hello"], 2)}" }
      "- **Endpoint routes**, req/s relative to a hello-world route on the same Puma: #{parts.join(", ")}."
    end

    def attribution_bullet(r)
      d = r["attribution_cost"]
      return nil unless d && d["extra_ns_per_request"]

      ab = d["puma"]
      puma = ab && "; on Puma, against a no-op middleware: #{ratio(ab["extra_cpu_us"], 1)} µs more CPU per request, " \
                   "req/s ratio #{ratio(ab["rps_ratio"])}"
      "- **Memwatch::Attribution**: #{ReportTables.fmt(d.dig("extra_ns_per_request", "median").to_f / 1000, 2)} µs per request " \
        "in-process#{puma}. Under Puma's threads a request costs several times its in-process figure; " \
          "on a hello-world route that is a visible share of the request. By default (`sample_every: :auto`) " \
          "a process measures ~100 requests a second and only counts the rest."
    end

    def log_bullet(d)
      return nil unless d && d["bytes_per_day"]

      "- **Log size** at the default 1 s interval: #{d["bytes_per_row"].round} bytes per row, " \
        "#{(d["bytes_per_day"] / 1_048_576.0).round(1)} MB per day per process (rotated at 64 MiB, 3 kept)."
    end
  end
end
