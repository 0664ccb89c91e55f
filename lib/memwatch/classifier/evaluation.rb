# frozen_string_literal: true

module Memwatch
  class Classifier
    # One classification of one series: runs the checks, picks the verdict,
    # and gathers its evidence. Holds the trend cache, so each floor series
    # is fitted once per window however many rules look at it.
    class Evaluation # :nodoc:
      MIB = 1024 * 1024

      attr_reader :signals, :opts

      def initialize(signals, opts)
        @signals = signals
        @opts = opts
        @trends = {}
        @checks = Checks.new(self)
      end

      # call-seq:
      #   evaluation.trend(name, from, to, points = opts[:points]) -> Trend
      #
      # The trend of the floors of +name+ over [from, to], in at most +points+
      # buckets (components for question 2 use half as many: their slopes
      # are shares, not tests, and Theil–Sen is O(n²)).
      def trend(name, from, to, points = @opts[:points])
        @trends[[name, from, to, points]] ||= begin
          ts, ys = @signals.floors(name, from, to, bucket_width(from, to, points))
          Trend.new(ts, ys, z: @opts[:z])
        end
      end

      # Buckets: at most +points+ per window, never narrower than the rows'
      # mean spacing (no empty buckets) or opts[:bucket_min] seconds (a floor
      # needs a few rows to be a floor).
      def bucket_width(from, to, points = @opts[:points])
        r = @signals.index_range(from, to)
        ticks = @signals.ticks
        mean = r.size > 1 ? (ticks[r.last] - ticks[r.first]) / (r.size - 1) : (to - from)
        [(to - from) / points, mean, @opts[:bucket_min]].max
      end

      def suspect_floor(level)
        [@opts[:suspect_rate], @opts[:suspect_fraction] * level].max
      end

      def confirm_floor(level)
        [@opts[:floor_rate], @opts[:floor_fraction] * level].max
      end

      # call-seq:
      #   evaluation.verdict -> Verdict
      def verdict
        return Report.insufficient(self, "no samples") if @signals.empty?
        return Report.insufficient(self, too_short) if @signals.span < @opts[:suspect_window]

        t = @signals.last_tick
        hit = @checks.confirmed(t)
        level = :confirmed if hit
        hit ||= @checks.suspected_persistently(t)
        level ||= :suspected if hit
        hit ? growth(hit, level) : quiet(t)
      end

      def too_short
        "#{(@signals.span / 60).round(1)} min of samples; a verdict needs " \
          "#{(@opts[:min_span] / 60.0).round(1)} min (a leak can be suspected after " \
          "#{((@opts[:suspect_window] + (@opts[:persistence] - 1) * @opts[:suspect_step]) / 60.0).round(1)} min)"
      end

      # Short, so an error message never dumps the whole series.
      def inspect
        "#<#{self.class.name} #{@signals.inspect}>"
      end

      private

      def growth(hit, level)
        att = hit[:attribution] || Attribution.new(self, hit[:from], hit[:to], hit[:from])
        kind = growth_kind(hit)
        released = released_in(hit[:from], hit[:to])
        grown = hit[:trend].slope * (hit[:to] - hit[:from]) / 3600.0
        if released >= [@opts[:purge_min], @opts[:purge_share] * grown].max
          return Report.new(self, "retention", nil, att, hit: hit, released: released).verdict
        end

        Report.new(self, kind, level, att, hit: hit, released: released).verdict
      end

      def growth_kind(hit)
        return "outside_process" if hit[:signal] == :kernel

        hit[:kind] || "native"
      end

      # No growth claim: retention (the allocator kept memory live data gave
      # back), growth too young to judge, or none.
      def quiet(t)
        from = @checks.long_from(t)
        att = Attribution.new(self, from, t, from)
        ret = Retention.new(self, from, t).evidence
        return Report.new(self, ret[:kind], nil, att, retention: ret).verdict if ret
        return Report.insufficient(self, too_short) if @signals.span < @opts[:min_span]

        pend = @checks.pending(t)
        return Report.new(self, "insufficient_data", nil, att, pending: pend).verdict if pend

        flat = trend(:used, from, t)
        floor = confirm_floor(Stats.median(@signals.floors(:anon, from, t, bucket_width(from, t))[1]) || 0)
        Report.new(self, "none", nil, att, flat: flat, floor: floor).verdict
      end

      def released_in(from, to)
        @signals.purges_between(from, to).sum { |p| p[:released_bytes].to_i }
      end
    end
  end
end
