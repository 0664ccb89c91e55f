# frozen_string_literal: true

module Memwatch
  class Classifier
    # Robust statistics for short, noisy, autocorrelated series (pure Ruby, no
    # dependencies). Times and values are Float Arrays of equal length; callers
    # drop nil points first. Slopes are in value units per time unit.
    #
    # Theil–Sen is O(n²) in pairs, so callers keep n small (the signals are
    # bucketed to at most ~120 points: ~7,000 pairs, well under a millisecond).
    module Stats
      module_function

      # call-seq:
      #   Stats.median(values) -> Float or nil
      def median(values)
        return nil if values.empty?

        sorted = values.sort
        mid = sorted.size / 2
        sorted.size.odd? ? sorted[mid].to_f : (sorted[mid - 1] + sorted[mid]) / 2.0
      end

      # call-seq:
      #   Stats.pair_slopes(ts, ys) -> Array<Float>  (unsorted)
      #
      # Slopes of every pair i < j. Times must be strictly increasing (floor
      # buckets are). The hot loop of the classifier: kept allocation-free.
      def pair_slopes(ts, ys)
        n = ts.size
        out = Array.new(n * (n - 1) / 2)
        k = 0
        i = 0
        while i < n - 1
          ti = ts[i]
          yi = ys[i]
          j = i + 1
          while j < n
            out[k] = (ys[j] - yi) / (ts[j] - ti)
            k += 1
            j += 1
          end
          i += 1
        end
        out
      end

      # call-seq:
      #   Stats.theil_sen(ts, ys) -> Float or nil
      #
      # The median pairwise slope (Sen 1968): one outlier or one step moves it
      # little, unlike least squares.
      def theil_sen(ts, ys)
        return nil if ts.size < 2

        median_sorted(pair_slopes(ts, ys).sort!)
      end

      # call-seq:
      #   Stats.lag1(residuals) -> Float in -1..1 (0.0 when undefined)
      def lag1(res)
        return 0.0 if res.size < 3

        mean = res.sum / res.size
        num = 0.0
        den = 0.0
        res.each_with_index do |r, i|
          d = r - mean
          den += d * d
          num += d * (res[i - 1] - mean) if i.positive?
        end
        den.zero? ? 0.0 : num / den
      end

      # call-seq:
      #   Stats.fit(ts, ys, z: 3.29) -> Hash or nil
      #
      # Theil–Sen slope with a confidence interval that respects
      # autocorrelation: neighbouring floors of a memory series are far from
      # independent, and ignoring that is how naive slope tests cry wolf. The
      # slope's standard error is the least-squares one, with a robust noise
      # scale (MAD of the residuals, but never under half their RMS, so steps
      # count) and n replaced by the effective sample size
      # n_eff = n (1 − φ) / (1 + φ), φ the lag-1 autocorrelation of the
      # residuals (clamped to 0..0.95).
      #
      # (Sen's rank interval with n_eff, as in research §5, is #sen_bounds. It
      # is blind to magnitudes: a strong trend with a small regular sawtooth
      # gets φ near 1 and an infinite interval, so it is not used for the test.)
      #
      # Returns {slope:, lo:, hi:, se:, n:, n_eff:, phi:, r2:, intercept:}.
      # nil under 3 points.
      def fit(ts, ys, z: 3.29)
        return nil if ts.size < 3

        slope = theil_sen(ts, ys).to_f
        intercept = median(ts.each_index.map { |i| ys[i] - slope * ts[i] })
        res = ts.each_index.map { |i| ys[i] - intercept - slope * ts[i] }
        phi = lag1(res).clamp(0.0, 0.95)
        n_eff = [ts.size * (1 - phi) / (1 + phi), 2.0].max
        se = slope_se(ts, res, n_eff)
        { slope: slope, lo: slope - z * se, hi: slope + z * se, se: se, n: ts.size, n_eff: n_eff,
          phi: phi, r2: r_squared(ys, res), intercept: intercept }
      end

      # σ / sqrt(Σ(t − t̄)²), with Σ scaled down from n to n_eff points.
      def slope_se(ts, res, n_eff)
        mean = ts.sum / ts.size
        sxx = ts.sum { |t| (t - mean)**2 } * n_eff / ts.size
        return Float::INFINITY unless sxx.positive?

        mad = median(res.map(&:abs)) * 1.4826
        rms = Math.sqrt(res.sum { |r| r * r } / res.size)
        sigma = [mad, rms / 2].max
        sigma / Math.sqrt(sxx)
      end

      # call-seq:
      #   Stats.sen_bounds(sorted_slopes, n_eff, z) -> [lo, hi]
      #
      # Sen's interval: the slopes at ranks (N ∓ C)/2, with C = z·sqrt(Var S)
      # scaled from the n_eff pairs to the N pairs actually computed.
      def sen_bounds(sorted, n_eff, z)
        n_pairs = sorted.size
        var_s = n_eff * (n_eff - 1) * (2 * n_eff + 5) / 18.0
        frac = z * Math.sqrt(var_s) / (n_eff * (n_eff - 1) / 2.0)
        return [-Float::INFINITY, Float::INFINITY] if frac >= 1

        lo_i = ((n_pairs * (1 - frac)) / 2).floor
        hi_i = (n_pairs - 1 - lo_i)
        [sorted[lo_i], sorted[hi_i]]
      end

      def median_sorted(sorted)
        mid = sorted.size / 2
        sorted.size.odd? ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2.0
      end

      # Share of the variance the robust line explains (1.0 for a perfect line,
      # 0 or below when the line explains nothing).
      def r_squared(ys, res)
        mean = ys.sum / ys.size
        tot = ys.sum { |y| (y - mean)**2 }
        return 1.0 if tot.zero?

        1.0 - res.sum { |r| r * r } / tot
      end

      # call-seq:
      #   Stats.split_slopes(ts, ys, parts) -> Array<Float or nil>
      #
      # Theil–Sen slope of each of +parts+ equal time slices (nil for a slice
      # with fewer than 3 points). Used to see whether growth slows down.
      def split_slopes(ts, ys, parts)
        slices(ts, ys, parts).map { |st, sy| st.size >= 3 ? theil_sen(st, sy) : nil }
      end

      # call-seq:
      #   Stats.split_medians(ts, ys, parts) -> Array<Float or nil>
      def split_medians(ts, ys, parts)
        slices(ts, ys, parts).map { |_st, sy| median(sy) }
      end

      # Points grouped into +parts+ equal time slices of [ts.first, ts.last].
      def slices(ts, ys, parts)
        groups = Array.new(parts) { [[], []] }
        t0 = ts.first
        span = ts.last - t0
        ts.each_index do |i|
          k = span.positive? ? ((ts[i] - t0) / span * parts).floor.clamp(0, parts - 1) : 0
          groups[k][0] << ts[i]
          groups[k][1] << ys[i]
        end
        groups
      end

      # call-seq:
      #   Stats.tail(ts, ys, fraction) -> [ts, ys]
      #
      # The points in the last +fraction+ of the time span.
      def tail(ts, ys, fraction)
        cut = ts.last - (ts.last - ts.first) * fraction
        idx = ts.index { |t| t >= cut } || ts.size
        [ts[idx..], ys[idx..]]
      end
    end
  end
end
