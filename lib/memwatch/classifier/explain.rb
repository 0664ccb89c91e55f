# frozen_string_literal: true

module Memwatch
  class Classifier
    # Plain-English explanation and next step for each verdict kind. Kept
    # apart from the rules so the wording can change without touching them.
    module Explain # :nodoc:
      module_function

      def rate(v)
        v.nil? ? "n/a" : Verdict.human_rate(v)
      end

      def bytes(v)
        Verdict.human_bytes(v.to_i)
      end

      def pct(share)
        "#{((share || 0) * 100).round}%"
      end

      # call-seq:
      #   Explain.text(kind, c) -> [explanation, next_step]
      #
      # +c+ is a Hash of facts: :rates, :shares, :ranked, :allocator, :signal,
      # :method, :retention, :pending, :flat, :minutes, :reason, :opts.
      def text(kind, c)
        send("#{kind}_text", c)
      end

      def ruby_objects_text(c)
        r = c[:rates]
        old = r["old_objects"].to_i
        ["Ruby objects pile up: memory grows #{rate(r['used'])}, #{pct(c[:shares]['ruby_objects'])} " \
         "of it live Ruby heap (old objects #{old.positive? ? '+' : ''}#{Verdict.human_count(old)}/h).",
         "Find what retains them: a 3-dump heap diff (`memwatch heap capture URL`, or POST " \
         "heap_capture on the endpoint, takes three dumps minutes apart and diffs them); objects " \
         "allocated after the first dump and still alive in the third are the leak, by file:line " \
         "when allocation tracing is allowed."]
      end

      def ruby_malloc_text(c)
        r = c[:rates]
        how = c[:method] == "heap_walk" ? "heap walks attribute #{rate(r['ruby_malloc'])} to Ruby objects" : "old objects grow with it (tentative: no heap walk yet)"
        ["Ruby objects hold growing malloc'd memory (big Strings, Arrays, Hashes): the allocator grows " \
         "#{rate(r['allocator_allocated'])}, #{how}, while heap slots barely move.",
         "Take a 3-dump heap diff (`memwatch heap capture URL` or POST heap_capture) and sort the " \
         "retained objects by bytes: look for buffers, caches and collections that only grow."]
      end

      def native_text(c)
        return threads_text(c) if c[:threads]

        [native_what(c), native_step(c[:allocator])]
      end

      def threads_text(c)
        ["Threads pile up (#{Verdict.human_count(c[:rates]['threads'].to_i)} more per hour): each one that " \
         "never ends keeps its stacks and allocator state; memory grows #{rate(c[:rates]['used'])}.",
         "Find who starts threads and never joins them: group Thread.list by t.backtrace&.last(3) " \
         "(or thread names); look for per-request Thread.new, timeouts and clients that spawn threads."]
      end

      def native_what(c)
        r = c[:rates]
        if c[:signal] == :alloc
          "The allocator's allocated bytes grow #{rate(r['allocator_allocated'])} while RSS does not: " \
            "native allocations never written to yet (they become RSS once touched)."
        elsif c[:allocator] == "unknown"
          "Anonymous memory outside the Ruby heap grows #{rate(r['used'])}; the allocator could not be " \
            "read, so native malloc, native mmaps and fragmentation cannot be told apart."
        elsif (c[:shares]['native'] || 0).positive? && c[:ranked].first&.fetch("series", nil) == :other
          "Anonymous memory outside the Ruby heap and the allocator grows #{rate(r['other'])}: " \
            "direct mmaps by native code, or thread stacks."
        else
          guess = c[:method] == "heap_walk" ? "heap walks find no matching Ruby-owned growth" : "old objects stay flat (tentative: no heap walk yet)"
          "Native memory grows: allocated bytes #{rate(r['allocator_allocated'])} while the Ruby heap " \
            "stays flat and #{guess}: a C extension or library keeps malloc'd memory."
        end
      end

      def native_step(allocator)
        prof = "MALLOC_CONF=prof:true,lg_prof_sample:19"
        if allocator == "jemalloc"
          "Find the call stacks: restart with #{prof}, dump a profile (jemalloc prof.dump, or " \
            "`jeprof` against the endpoint's /pprof/heap) and read it with `jeprof --text`. " \
            "Suspect recently upgraded gems with C extensions first."
        else
          "Preload jemalloc with profiling (LD_PRELOAD=libjemalloc.so.2 #{prof}) and read a heap " \
            "profile with jeprof, or run a staging copy under valgrind --leak-check=full or heaptrack. " \
            "Suspect recently upgraded gems with C extensions first."
        end
      end

      def fragmentation_text(c)
        r = c[:rates]
        what = if c[:retention]
                 "Live data fell by #{bytes(c[:retention][:dropped])} but RSS did not, and a purge gave " \
                   "back only #{bytes(c[:retention][:released])}: the free memory is pinned by live objects."
               else
                 "RSS grows while allocated bytes do not keep up: memory the allocator holds but does " \
                   "not use grows #{rate(r['allocator_fragmentation'] || r['allocator_overhead'])} (fragmentation)."
               end
        [what, fragmentation_step(c[:allocator])]
      end

      def fragmentation_step(allocator)
        if allocator == "jemalloc"
          "Run the purge test (Memwatch.purge or the endpoint's purge action): if little comes back, " \
            "long-lived small objects pin mostly empty pages; bound such caches, or try " \
            "MALLOC_CONF=narenas:2."
        else
          "Set MALLOC_ARENA_MAX=2, or preload jemalloc (LD_PRELOAD=libjemalloc.so.2); run the purge " \
            "test (Memwatch.purge or the endpoint's purge action): what it gives back was only retained."
        end
      end

      def retention_text(c)
        ret = c[:retention] || {}
        what = +"Not a leak: allocator retention. "
        what << "Live data fell by #{bytes(ret[:dropped])} but RSS stayed. " if ret[:dropped]
        what << "A purge gave back #{bytes(ret[:released] || c[:released])}." if (ret[:released] || c[:released]).to_i.positive?
        what << "No purge has run yet to prove it." unless ret[:purged] || c[:released].to_i.positive?
        [what.strip,
         "Nothing leaks. To return memory sooner: with glibc set MALLOC_ARENA_MAX=2 or use jemalloc " \
         "(its dirty pages go back after dirty_decay_ms); Memwatch.purge (malloc_trim) gives it back now."]
      end

      def outside_process_text(c)
        r = c[:rates]
        ["The process is flat (anonymous RSS #{rate(r['anon'])}) but the host's unreclaimable kernel " \
         "memory grows #{rate(r['host_slab'])}.",
         "Look for leaked sockets, pipes or files (`ls /proc/PID/fd | wc -l` over time); " \
         "`slabtop -o` shows which kernel cache grows. It may be another process on the host."]
      end

      def mixed_text(c)
        top = c[:ranked].first(2)
        list = top.map { |x| "#{x['kind']} #{pct(x['share'])}" }.join(" and ")
        steps = top.map { |x| "#{x['kind']}: #{text(x['kind'], c)[1]}" }
        ["Several causes grow together: #{list} of RSS growth #{rate(c[:rates]['anon'])}.", steps.join(" ")]
      end

      def none_text(c)
        tr = c[:flat]
        minutes = c[:minutes]
        if !tr&.usable? || tr.lower <= 0 || tr.slope <= c[:floor].to_f
          ["No leak: memory is flat (#{rate(tr&.slope)} over #{minutes} min).", "Nothing to do."]
        elsif (tr.late_ratio || 1) < c[:opts][:late_ratio]
          ["No leak: memory rose early and is levelling off (last third at #{pct(tr.late_ratio)} of the " \
           "average rate over #{minutes} min): a warm-up.", "Nothing to do."]
        else
          ["No leak claimed: memory grew #{rate(tr.slope)} over #{minutes} min, too slowly or unevenly " \
           "to call; slow leaks are confirmed after #{(c[:opts][:grace] / 3600.0).round(1)} h of history.",
           "Nothing to do; memwatch keeps watching."]
        end
      end

      def insufficient_data_text(c)
        pend = c[:pending]
        return [c[:reason].to_s, "Keep memwatch running and ask again later."] unless pend

        grace = (c[:opts][:grace] / 3600.0).round(1)
        how = pend[:uneven] ? "unevenly" : "steadily"
        minutes = (pend[:trend].hours * 60).round(1)
        ["Memory grows #{how} at #{rate(pend[:trend].slope)} over the last #{minutes} min, but not yet as " \
         "a leak: the fast level needs a steep, steady rise for minutes, the slow one #{grace} h of " \
         "history; a warm-up looks the same until it levels off.",
         "Keep memwatch running and ask again; the rates show where the growth comes from."]
      end
    end
  end
end
