# frozen_string_literal: true

module Memwatch
  class Classifier
    # The slow level of question 1 (and the "too early to say" cases), mixed
    # into Checks: past the grace period, over the long window.
    module SlowChecks # :nodoc:
      # call-seq:
      #   checks.confirmed(t) -> Hash or nil
      #
      # Slow path: past the grace period, growth over the long window clears
      # the absolute floor, does not slow down, is spread out, is backed by
      # the leading component in the last third, and held at the last
      # +persistence+ evaluations (confirm_step apart). Fast path: suspected
      # without a break for fast_confirm seconds.
      def confirmed(t)
        first = long_check(t)
        agree = first && (1...@o[:persistence]).all? do |k|
          (c = long_check(t - k * @o[:confirm_step], back: false)) && c[:signal] == first[:signal]
        end
        agree ? first : fast_confirmed(t)
      end

      # call-seq:
      #   checks.pending(t) -> Hash or nil
      #
      # Growth that would be confirmed but for the grace period or
      # persistence (and faster than pending_rate: slower young growth is
      # "none", with its rate); or fast growth right now that is too uneven,
      # too young or slowing too much to call. Too early to say, which is not
      # "none".
      def pending(t)
        hit = long_check(t, grace: false)
        hit = nil if hit && hit[:trend].slope < @o[:pending_rate]
        hit || still_growing(t)
      end

      # The long window ending at +t+: the last +window+ seconds, or the
      # whole history when it is shorter.
      def long_from(t)
        [@ev.signals.first_tick, t - @o[:window]].max
      end

      private

      def long_check(t, grace: true, back: true)
        @memo[[:l, t, grace, back]] ||= begin
          from = long_from(t)
          enough = t - from >= (grace ? @o[:grace] : @o[:min_span])
          enough ? long_signal_check(from, t, back) : nil
        end
      end

      def long_signal_check(from, t, back)
        base = @ev.confirm_floor(level(from, t))
        Checks::SIGNALS.each do |sig|
          floor = sig == :kernel ? [base, @o[:kernel_rate]].max : base
          tr = @ev.trend(sig, from, t)
          next unless tr.points >= @o[:min_points] && tr.significant?(floor)
          next unless tr.not_decelerating?(@o[:late_ratio]) && tr.spread?(@o[:spread_fraction])
          next if tr.slowing?(3, @o[:late_ratio], @o[:slowdown_z])
          next unless process_flat?(sig, from, t, tr)

          hit = back ? backed(sig, tr, floor, from, t, from, late: true) : found(sig, tr, floor, from, t)
          return hit if hit
        end
        nil
      end

      def fast_confirmed(t)
        span = @o[:fast_confirm]
        return nil if t - span < @ev.signals.first_tick + @o[:suspect_window]

        first = suspected(t)
        return nil unless first

        steps = (1..3).map { |k| suspected(t - k * span / 3.0, back: false) }
        return nil unless steps.all? { |c| c && c[:signal] == first[:signal] }

        tr = @ev.trend(first[:signal], t - span, t)
        tr.not_decelerating?(@o[:late_ratio]) && tr.spread?(@o[:spread_fraction]) ? first : nil
      end

      # Growing fast right now (a quarter of the suspected floor over the
      # last suspect_window), whatever the longer view says.
      def still_growing(t)
        from = [@ev.signals.first_tick, t - @o[:suspect_window]].max
        return nil if t - from < @o[:suspect_window] * 0.9

        floor = [@ev.confirm_floor(level(from, t)), @ev.suspect_floor(level(from, t)) / 4].max
        recent = @ev.trend(:used, from, t)
        recent.significant?(floor) ? found(:used, recent, floor, from, t).merge(uneven: true) : nil
      end
    end
  end
end
