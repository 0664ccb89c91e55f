# frozen_string_literal: true

require_relative "../verdict"

module Memwatch
  class Metrics
    # Every metric family: [name, type, extractor, help]. An extractor takes one process's
    # state (Cluster::Report's document) and returns a value, or [[labels, value], ...]
    # for families with their own labels. Names follow Prometheus' naming guide (base
    # units, _total on counters) and sit next to peers' names: see doc/readme-metrics.md.
    module Families
      SAMPLE = ->(key) { ->(doc) { doc.dig("sample", key) } }
      MEMORY = ->(key) { ->(doc) { doc.dig("memory", key) } }
      GROWTH = ->(key) { ->(doc) { doc.dig("growth", key) } }
      LEVELS = { nil => 0, "suspected" => 1, "confirmed" => 2 }.freeze

      # Both allocators' "bytes in live allocations"; jemalloc's mapped, or glibc's arena
      # plus mmapped chunks (what it took from the OS).
      ALLOCATED = ->(doc) { doc.dig("sample", "je_allocated_bytes") || doc.dig("sample", "glibc_in_use_bytes") }
      MAPPED = lambda do |doc|
        s = doc["sample"] || {}
        arena, mmap = s.values_at("glibc_arena_bytes", "glibc_mmap_bytes")
        s["je_mapped_bytes"] || (arena && mmap && arena + mmap)
      end
      GC_SECONDS = ->(doc) { (ms = doc.dig("sample", "time")).is_a?(Numeric) ? ms / 1000.0 : nil }
      GC_RUNS = lambda do |doc|
        [[{ "type" => "minor" }, doc.dig("sample", "minor_gc_count")],
         [{ "type" => "major" }, doc.dig("sample", "major_gc_count")]]
      end
      SLOTS = lambda do |doc|
        [[{ "state" => "live" }, doc.dig("sample", "heap_live_slots")],
         [{ "state" => "free" }, doc.dig("sample", "heap_free_slots")]]
      end
      VERDICT = lambda do |doc|
        kind = doc.dig("verdict", "kind") or return []
        Verdict::KINDS.map { |k| [{ "kind" => k }, k == kind ? 1 : 0] }
      end
      LEVEL = ->(doc) { doc["verdict"] ? LEVELS.fetch(doc.dig("verdict", "level"), 0) : nil }
      RATE = ->(doc) { (r = doc.dig("verdict", "rss_bytes_per_hour")).is_a?(Numeric) ? r / 3600.0 : nil }
      AGE = ->(doc) { doc["age_seconds"] }
      BUILD = lambda do |doc|
        [[{ "version" => doc["version"], "ruby_version" => doc["ruby"], "allocator" => doc["allocator"] }, 1]]
      end
      PROCESS = ->(doc) { [[{ "pid" => doc["pid"], "role" => doc["role"] }, 1]] }

      LIST = [
        ["memwatch_build_info", "gauge", BUILD,
         "memwatch version, Ruby version and malloc implementation (value 1)"],
        ["memwatch_process_info", "gauge", PROCESS,
         "The process behind a worker label: its pid and role (value 1)"],
        ["memwatch_rss_bytes", "gauge", SAMPLE["rss_bytes"],
         "Resident set size (VmRSS); counts pages shared with other processes in each of them"],
        ["memwatch_rss_anon_bytes", "gauge", SAMPLE["rss_anon_bytes"],
         "Anonymous resident memory (RssAnon): heap, malloc, stacks"],
        ["memwatch_rss_file_bytes", "gauge", SAMPLE["rss_file_bytes"],
         "File-backed resident memory (RssFile): code, mapped files"],
        ["memwatch_rss_shmem_bytes", "gauge", SAMPLE["rss_shmem_bytes"],
         "Shared-memory resident pages (RssShmem)"],
        ["memwatch_swap_bytes", "gauge", SAMPLE["swap_bytes"],
         "Swapped-out memory (VmSwap)"],
        ["memwatch_pss_bytes", "gauge", MEMORY["pss_bytes"],
         "Proportional set size: shared pages split among the processes sharing them"],
        ["memwatch_uss_bytes", "gauge", MEMORY["uss_bytes"],
         "Unique set size: memory only this process holds (what killing it frees)"],
        ["memwatch_rss_growth_bytes", "gauge", GROWTH["rss_bytes"],
         "RSS change since the process's post-boot reference"],
        ["memwatch_pss_growth_bytes", "gauge", GROWTH["pss_bytes"],
         "PSS change since the process's post-boot reference"],
        ["memwatch_uss_growth_bytes", "gauge", GROWTH["uss_bytes"],
         "USS change since the process's post-boot reference (copy-on-write aware)"],
        ["memwatch_threads", "gauge", SAMPLE["threads"],
         "Threads in the process"],
        ["memwatch_cgroup_usage_bytes", "gauge", SAMPLE["cgroup_usage_bytes"],
         "Memory charged to the process's cgroup (memory.current)"],
        ["memwatch_cgroup_limit_bytes", "gauge", SAMPLE["cgroup_limit_bytes"],
         "The cgroup's memory limit (memory.max), absent when unlimited"],
        ["memwatch_ruby_heap_bytes", "gauge", SAMPLE["ruby_heap_bytes"],
         "Ruby object heap: allocated pages times the page size"],
        ["memwatch_ruby_heap_pages", "gauge", SAMPLE["heap_allocated_pages"],
         "Ruby heap pages allocated (GC.stat heap_allocated_pages)"],
        ["memwatch_ruby_heap_slots", "gauge", SLOTS,
         "Ruby heap slots by state (GC.stat heap_live_slots, heap_free_slots)"],
        ["memwatch_ruby_old_objects", "gauge", SAMPLE["old_objects"],
         "Old-generation objects after the last marking (GC.stat old_objects)"],
        ["memwatch_ruby_malloc_bytes", "gauge", SAMPLE["ruby_malloc_bytes"],
         "Ruby-owned malloc bytes outside slots, from the latest heap walk"],
        ["memwatch_ruby_malloc_increase_bytes", "gauge", SAMPLE["malloc_increase_bytes"],
         "malloc bytes since the last GC (GC.stat malloc_increase_bytes)"],
        ["memwatch_ruby_oldmalloc_increase_bytes", "gauge", SAMPLE["oldmalloc_increase_bytes"],
         "malloc bytes since the last major GC (GC.stat oldmalloc_increase_bytes)"],
        ["memwatch_ruby_allocated_objects_total", "counter", SAMPLE["total_allocated_objects"],
         "Objects allocated (GC.stat total_allocated_objects)"],
        ["memwatch_ruby_freed_objects_total", "counter", SAMPLE["total_freed_objects"],
         "Objects freed (GC.stat total_freed_objects)"],
        ["memwatch_gc_runs_total", "counter", GC_RUNS,
         "Garbage collections by type (GC.stat minor_gc_count, major_gc_count)"],
        ["memwatch_gc_duration_seconds_total", "counter", GC_SECONDS,
         "Time spent in GC (GC.stat time)"],
        ["memwatch_gc_compactions_total", "counter", SAMPLE["compact_count"],
         "Heap compactions (GC.stat compact_count)"],
        ["memwatch_gc_stats_age_seconds", "gauge", SAMPLE["gc_age_seconds"],
         "How old the GC counters were when the sample was taken"],
        ["memwatch_allocator_allocated_bytes", "gauge", ALLOCATED,
         "malloc bytes in live allocations (jemalloc stats.allocated, glibc in use)"],
        ["memwatch_allocator_active_bytes", "gauge", SAMPLE["je_active_bytes"],
         "jemalloc stats.active: pages holding live allocations"],
        ["memwatch_allocator_resident_bytes", "gauge", SAMPLE["je_resident_bytes"],
         "jemalloc stats.resident: allocator pages resident in memory"],
        ["memwatch_allocator_retained_bytes", "gauge", SAMPLE["je_retained_bytes"],
         "jemalloc stats.retained: virtual memory kept for reuse, not resident"],
        ["memwatch_allocator_mapped_bytes", "gauge", MAPPED,
         "Memory the allocator took from the OS (jemalloc stats.mapped; glibc arena + mmap)"],
        ["memwatch_allocator_metadata_bytes", "gauge", SAMPLE["je_metadata_bytes"],
         "jemalloc stats.metadata"],
        ["memwatch_allocator_free_bytes", "gauge", SAMPLE["glibc_free_bytes"],
         "glibc: free bytes held in malloc arenas (fordblks)"],
        ["memwatch_allocator_releasable_bytes", "gauge", SAMPLE["glibc_releasable_bytes"],
         "glibc: bytes malloc_trim could release at the heap top (keepcost)"],
        ["memwatch_verdict", "gauge", VERDICT,
         "The leak verdict: 1 for the current kind, 0 for the others"],
        ["memwatch_verdict_level", "gauge", LEVEL,
         "How sure the leak claim is: 0 none, 1 suspected, 2 confirmed"],
        ["memwatch_verdict_confidence_ratio", "gauge", ->(doc) { doc.dig("verdict", "confidence") },
         "The verdict's confidence, 0 to 1"],
        ["memwatch_verdict_rss_growth_bytes_per_second", "gauge", RATE,
         "RSS growth rate over the verdict's window (negative: shrinking)"],
        ["memwatch_sampler_cpu_seconds_total", "counter", ->(doc) { doc.dig("stats", "cpu_seconds") },
         "CPU time memwatch's sampler thread used"],
        ["memwatch_sampler_memory_bytes", "gauge", ->(doc) { doc.dig("stats", "bytes") },
         "Memory memwatch's rings and buffers hold"],
        ["memwatch_sampler_ticks_total", "counter", ->(doc) { doc.dig("stats", "ticks") },
         "Samples memwatch took"],
        ["memwatch_sampler_errors_total", "counter", ->(doc) { doc.dig("stats", "errors") },
         "Sampler errors (unreadable /proc files, log write failures)"],
        ["memwatch_last_sample_timestamp_seconds", "gauge", SAMPLE["tick"],
         "When the newest sample was taken (Unix time)"],
        ["memwatch_state_age_seconds", "gauge", AGE,
         "Age of the process's published state when this scrape read it"]
      ].freeze
    end
  end
end
