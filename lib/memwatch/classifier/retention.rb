# frozen_string_literal: true

module Memwatch
  class Classifier
    # Retention without growth: live data went down, RSS did not. The
    # allocator keeps freed memory (glibc arenas, jemalloc pages not yet
    # decayed or pinned by a few live objects). An allocator purge tells the
    # two apart: what it gives back was retention; what it cannot was
    # fragmentation. Purges with a large release are evidence on their own.
    class Retention # :nodoc:
      def initialize(evaluation, from, to)
        @ev = evaluation
        @o = evaluation.opts
        @from = from
        @to = to
      end

      # call-seq:
      #   retention.evidence -> Hash or nil
      #
      # {kind: "retention" | "fragmentation", dropped:, kept:, released:,
      #  purged: bool, peak_tick:} — nil when nothing points at retention.
      def evidence
        drop = drop_evidence
        purge = purge_only unless drop
        drop || purge
      end

      private

      # Allocated bytes fell from their peak by a lot while anonymous RSS
      # stayed within a quarter of that fall.
      def drop_evidence
        width = @ev.bucket_width(@from, @to)
        mt, mv = @ev.signals.floors(:alloc, @from, @to, width)
        at, av = @ev.signals.floors(:anon, @from, @to, width)
        return nil if mv.size < @o[:min_points] || av.size < @o[:min_points]

        peak = mv.each_index.max_by { |i| mv[i] }
        return nil if peak >= mv.size - 3

        dropped = mv[peak] - Stats.median(mv.last(3))
        a_end = Stats.median(av.last(3))
        a_peak = value_near(at, av, mt[peak])
        return nil unless dropped >= [@o[:retention_min], @o[:retention_fraction] * a_end].max
        return nil if a_peak - a_end > 0.25 * dropped

        judge(dropped, dropped - [a_peak - a_end, 0].max, @from + mt[peak] * 3600)
      end

      # A purge's release decides: most of it back means retention; almost
      # nothing back means the free memory is pinned (fragmentation).
      def judge(dropped, kept, peak_tick)
        purges = @ev.signals.purges_between(peak_tick, @to)
        released = purges.sum { |p| p[:released_bytes].to_i }
        kind = !purges.empty? && released < 0.2 * kept ? "fragmentation" : "retention"
        { kind: kind, dropped: dropped, kept: kept, released: released,
          purged: !purges.empty?, peak_tick: peak_tick }
      end

      def purge_only
        released = @ev.signals.purges_between(@from, @to).sum { |p| p[:released_bytes].to_i }
        a_end = Stats.median(@ev.signals.floors(:anon, @from, @to, @ev.bucket_width(@from, @to))[1].last(3)) || 0
        return nil unless released >= [@o[:retention_min], @o[:retention_fraction] * a_end].max

        { kind: "retention", dropped: nil, kept: released, released: released, purged: true, peak_tick: nil }
      end

      def value_near(ts, vs, t)
        i = ts.each_index.min_by { |k| (ts[k] - t).abs }
        vs[i]
      end
    end
  end
end
