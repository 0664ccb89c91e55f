# frozen_string_literal: true

require_relative "slow_checks"

module Memwatch
  class Classifier
    # Question 1 at both levels, evaluated at a given end time +t+ so that
    # persistence ("the last N evaluations agreed") is recomputed from the
    # series itself: a log file read once gets the same answer the live
    # monitor would have given.
    #
    # Each check returns nil (no) or a Hash with :signal (the series that
    # grows: :used, :alloc for untouched allocations, :kernel outside the
    # process), :trend, :floor, :attribution and :kind.
    class Checks # :nodoc:
      include SlowChecks

      # What may carry the growth, in order: the process's anonymous memory
      # (less empty Ruby heap slots: see Derive); its allocator's allocated
      # bytes when RSS does not follow (allocations never written); the host
      # kernel's unreclaimable slab while the process is flat.
      SIGNALS = %i[used alloc kernel].freeze

      def initialize(evaluation)
        @ev = evaluation
        @o = evaluation.opts
        @memo = {}
      end

      # call-seq:
      #   checks.suspected(t) -> Hash or nil
      #
      # Fast level over the last suspect_window seconds before +t+: a steep
      # (rate floor scaled to the process), steady (no slowdown within the
      # window or against the longer context), spread-out rise, backed by the
      # component that explains it (+back+: false skips that question-2 check,
      # for the earlier evaluations of a persistence run).
      def suspected(t, back: true)
        @memo[[:s, t, back]] ||= begin
          from = t - @o[:suspect_window]
          # (the window may start up to one floor bucket before the first row)
          from >= @ev.signals.first_tick - @o[:bucket_min] ? short_check(from, t, back) : nil
        end
      end

      # call-seq:
      #   checks.suspected_persistently(t) -> Hash or nil
      def suspected_persistently(t)
        first = suspected(t)
        return nil unless first

        others = (1...@o[:persistence]).map { |k| suspected(t - k * @o[:suspect_step], back: false) }
        others.all? { |c| c && c[:signal] == first[:signal] } ? first : nil
      end

      # Short, so an error message never dumps the whole series.
      def inspect
        "#<#{self.class.name}>"
      end

      private

      def short_check(from, t, back)
        SIGNALS.each do |sig|
          hit = short_signal(sig, from, t, back)
          return hit if hit
        end
        nil
      end

      def short_signal(sig, from, t, back)
        tr = @ev.trend(sig, from, t)
        return nil unless tr.points >= @o[:min_points]

        floor = @ev.suspect_floor(level(from, t))
        return nil unless steep?(tr, floor) && !tr.slowing?(2, @o[:halves_ratio], @o[:slowdown_z])
        return nil unless tr.spread?(@o[:spread_fraction]) && process_flat?(sig, from, t, tr)
        return found(sig, tr, floor, from, t) unless back

        hit = backed(sig, tr, floor, from, t, t - 2 * @o[:suspect_window])
        hit && history_steady?(hit[:lead], sig, t) ? hit : nil
      end

      # Steep enough for the fast level: the slope clears the floor and its
      # lower bound half of it (noisy allocators — glibc arenas growing in
      # jumps — widen the interval of a real 1 MiB/s leak to ±0.4 MiB/s).
      def steep?(trend, floor)
        trend.usable? && trend.slope >= floor && trend.significant?(floor / 2)
      end

      # The growing component must not be in the tail of a faster rise that
      # is slowing down (a warm-up still climbing): over the history since
      # suspect_settle seconds after the first row (start-up transients
      # excluded, at most suspect_context back), the last third's slope has
      # not fallen well below the first third's. It is checked on the
      # component's post-GC floor (live heap, allocated bytes...), not on
      # RSS: RSS carries the process's own warm-up (arenas, heap slack) on
      # top of a leak, the leaking component does not. When the component
      # cannot tell (its first or last third has too few points, as with
      # glibc's rate-limited mallinfo2 under load), the growing signal
      # itself is asked; and when the component's own slope does fall below
      # the ratio but too noisily to be significant, the signal (less noisy,
      # carrying the same growth) may supply the significance. A cache
      # filling toward its size otherwise passed for a leak (lab logs
      # warmup-*, 2026-11-21), while a Ruby leak under a process whose arenas
      # are still warming up (objects-glibc) keeps a steady component and is
      # not delayed.
      def history_steady?(lead, sig, t)
        from = [@ev.signals.first_tick + @o[:suspect_settle], t - @o[:suspect_context]].max
        # (one floor bucket of slack, as for the short window itself: rows
        # start a fraction of a second after the process does)
        return true if t - from < @o[:suspect_window] - @o[:bucket_min]

        comp = @ev.trend(lead, from, t)
        whole = @ev.trend(sig, from, t)
        args = [3, @o[:slowdown_ratio], @o[:slowdown_z]]
        return !comp.slowing?(*args) if lead == sig || (comp.slices_known?(3) && !comp.ratio_below?(3, args[1]))

        !comp.slowing?(*args) && !whole.slowing?(*args)
      end

      # Allocations that RSS does not follow, and kernel memory, only count
      # while the process's own memory is (relatively) flat.
      def process_flat?(sig, from, t, tr)
        return true if sig == :used

        anon = @ev.trend(:used, from, t)
        !anon.usable? || anon.slope < 0.25 * tr.slope
      end

      def found(sig, tr, floor, from, t)
        { signal: sig, trend: tr, floor: floor, attribution: nil, from: from, to: t }
      end

      # Q2 backing: the component that explains the growth must itself grow
      # (over the last third of the window for the slow level, where the
      # research found warm-ups give themselves away).
      def backed(sig, tr, floor, from, t, wide_from, late: false)
        return found(sig, tr, floor, from, t).merge(lead: :kernel) if sig == :kernel

        att = Attribution.new(@ev, from, t, wide_from)
        kind = sig == :alloc ? "native" : att.kind(@o[:kind_share])
        lead = att.lead_series(kind) || sig
        lt_from = late ? t - (t - from) / 3.0 : from
        lt = @ev.trend(lead, lt_from, t)
        return nil unless lt.significant?(0)

        { signal: sig, trend: tr, floor: floor, attribution: att, kind: kind, lead: lead, from: from, to: t }
      end

      # Typical process size over the window, for rate floors that scale
      # with the process.
      def level(from, t)
        _, ys = @ev.signals.floors(:anon, from, t, [(t - from) / 8.0, 1.0].max)
        Stats.median(ys) || 0.0
      end
    end
  end
end
