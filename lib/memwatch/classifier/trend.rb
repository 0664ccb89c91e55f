# frozen_string_literal: true

module Memwatch
  class Classifier
    # Question 1 for one signal over one window: is there sustained growth?
    # A Trend holds the robust fit of a floor series plus the shape checks
    # that tell a leak (steady, spread-out growth) from a warm-up (growth
    # that slows down) or a one-off step (growth in one place). Shape checks
    # are computed on demand: most trends only need the fit.
    class Trend # :nodoc:
      attr_reader :fit, :hours, :points

      # call-seq:
      #   Trend.new(hours, values, z: 3.29) -> trend
      #
      # +hours+ since the window start, +values+ the floors (same length).
      def initialize(hours, values, z: 3.29)
        @ts = hours
        @ys = values
        @z = z
        @points = hours.size
        @hours = hours.empty? ? 0.0 : hours.last - hours.first
        @fit = Stats.fit(hours, values, z: z)
      end

      def usable?
        !@fit.nil?
      end

      # Robust slope per hour (nil when unusable).
      def slope
        @fit && @fit[:slope]
      end

      # Lower confidence bound of the slope.
      def lower
        @fit ? @fit[:lo] : -Float::INFINITY
      end

      def upper
        @fit ? @fit[:hi] : Float::INFINITY
      end

      # call-seq:
      #   trend.significant?(floor) -> bool
      #
      # The slope's lower bound clears +floor+ (bytes per hour).
      def significant?(floor)
        usable? && lower > floor
      end

      # call-seq:
      #   trend.parts(n) -> Array of fits (or nil) of n equal time slices
      def parts(count)
        (@parts ||= {})[count] ||= Stats.slices(@ts, @ys, count).map do |st, sy|
          st.size >= 3 ? Stats.fit(st, sy, z: @z) : nil
        end
      end

      # call-seq:
      #   trend.slowing?(count, ratio, z) -> bool
      #
      # Split in +count+ slices: the last one's slope fell below +ratio+ ×
      # the first one's, by more than +z+ standard errors. A warm-up levelling
      # off does this; a leak whose rate merely wobbles with the load does not
      # (both conditions are needed: real leak rates vary by ±30% as request
      # rates and GC costs change). Unknown slices do not count as slowing.
      def slowing?(count, ratio, z)
        first, *, last = parts(count)
        return false unless first && last && first[:slope].positive?

        drop = first[:slope] - last[:slope]
        last[:slope] < ratio * first[:slope] && drop > z * Math.hypot(first[:se], last[:se])
      end

      # call-seq:
      #   trend.slices_known?(count) -> bool
      #
      # The first and last of +count+ slices have fits (slowing? can judge).
      def slices_known?(count)
        first, *, last = parts(count)
        !first.nil? && !last.nil?
      end

      # call-seq:
      #   trend.ratio_below?(count, ratio) -> bool
      #
      # The last of +count+ slices' slope is under +ratio+ × the first's
      # (a point estimate: no significance asked).
      def ratio_below?(count, ratio)
        first, *, last = parts(count)
        !first.nil? && !last.nil? && first[:slope].positive? && last[:slope] < ratio * first[:slope]
      end

      # call-seq:
      #   trend.late_ratio -> Float or nil
      #
      # Last third's slope over the whole window's: ~1 for a leak, well under
      # 1 for a warm-up that is levelling off.
      def late_ratio
        last = parts(3).last
        return nil unless usable? && last && slope.positive?

        last[:slope] / slope
      end

      # call-seq:
      #   trend.not_decelerating?(late_min) -> bool
      def not_decelerating?(late_min)
        lr = late_ratio
        !lr.nil? && lr >= late_min
      end

      # call-seq:
      #   trend.spread?(fraction) -> bool
      #
      # Growth is spread over the window: each quarter's median is above the
      # previous one by at least +fraction+ of the rise the slope predicts per
      # quarter. A one-off step (a cache filled at once, a deploy) fails this.
      def spread?(fraction)
        quarters = Stats.split_medians(@ts, @ys, 4)
        return false unless usable? && slope.positive? && quarters.none?(&:nil?)

        step = slope * @hours / 4 * fraction
        quarters.each_cons(2).all? { |a, b| b - a >= step }
      end

      # Evidence for the verdict: numbers per hour, rounded for humans.
      def to_h
        return { "usable" => false, "points" => @points } unless usable?

        { "slope_per_hour" => slope.round, "lower_per_hour" => finite(lower),
          "upper_per_hour" => finite(upper), "points" => @points,
          "n_eff" => @fit[:n_eff].round(1), "r2" => @fit[:r2].round(3),
          "late_ratio" => late_ratio&.round(3), "minutes" => (@hours * 60).round(1) }
      end

      # Short, so an error message never dumps the whole series.
      def inspect
        "#<#{self.class.name} #{@points} points, slope #{slope.inspect}>"
      end

      private

      def finite(v)
        v.finite? ? v.round : nil
      end
    end
  end
end
