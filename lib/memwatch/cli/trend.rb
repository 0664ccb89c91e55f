# frozen_string_literal: true

require "memwatch/classifier/stats"

module Memwatch
  module CLI
    # Robust growth rates for the CLI (summary, top, plot): the classifier's Theil–Sen fit
    # (Memwatch::Classifier::Stats: least-squares error bars corrected for autocorrelation) on
    # the series' floor envelope, thinned so long recordings stay cheap.
    module Trend
      # A fitted line, in y-units per x-unit; low/high are nil when the data cannot bound it.
      Fit = Struct.new(:slope, :low, :high, :intercept, :n, keyword_init: true)

      # Theil–Sen is O(n²) in pairs: longer series are thinned to their floor envelope.
      MAX_POINTS = 240

      module_function

      # call-seq:
      #   Trend.fit(xs, ys, z: 1.96) -> Fit or nil
      #
      # nil when fewer than 3 points (or no two distinct x) are given.
      def fit(xs, ys, z: 1.96)
        xs, ys = envelope(xs, ys, MAX_POINTS)
        f = Memwatch::Classifier::Stats.fit(xs.map(&:to_f), ys.map(&:to_f), z: z) or return nil
        low, high = f[:se] ? t_bounds(f, z) : [f[:lo], f[:hi]]
        Fit.new(slope: f[:slope], low: finite(low), high: finite(high), intercept: f[:intercept], n: f[:n])
      end

      # Student's t instead of the normal quantile: a series of a few effective points
      # (a process seen for seconds) gets the wide interval it deserves, so ranking by
      # the lower bound favours sustained growth.
      T975 = { 1 => 12.71, 2 => 4.30, 3 => 3.18, 4 => 2.78, 5 => 2.57, 6 => 2.45, 7 => 2.36, 8 => 2.31,
               9 => 2.26, 10 => 2.23, 12 => 2.18, 15 => 2.13, 20 => 2.09, 30 => 2.04, 60 => 2.00 }.freeze

      def t_bounds(fit, z)
        df = [(fit[:n_eff] || fit[:n]).to_f - 2, 1].max
        t = T975.find { |k, _| df <= k }&.last || 1.96
        half = t * z / 1.96 * fit[:se]
        [fit[:slope] - half, fit[:slope] + half]
      end

      def finite(value)
        value&.finite? ? value : nil
      end

      # call-seq:
      #   Trend.envelope(xs, ys, max) -> [xs, ys]
      #
      # At most +max+ points: the lowest point of each of +max+ equal index bins. Lows are
      # the post-GC floor of a sawtooth series, which is what grows in a leak.
      def envelope(xs, ys, max)
        n = xs.size
        return [xs, ys] if n <= max

        picked = (0...max).map do |b|
          range = (b * n / max)...((b + 1) * n / max)
          range.min_by { |i| ys[i] }
        end
        [picked.map { |i| xs[i] }, picked.map { |i| ys[i] }]
      end
    end
  end
end
