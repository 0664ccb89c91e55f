# frozen_string_literal: true

require_relative "test_helper"
require "memwatch/classifier"

# The robust statistics under the classifier, on series whose answer is known.
class TestStats < Minitest::Test
  S = Memwatch::Classifier::Stats

  def line(n, slope, noise: 0.0, seed: 1, phi: 0.0)
    rng = Random.new(seed)
    e = 0.0
    ts = (0...n).map { |i| i / 10.0 }
    ys = ts.map do |t|
      e = phi * e + noise * (rng.rand - 0.5) * 3.46 # uniform with unit variance × noise
      5.0 + slope * t + e
    end
    [ts, ys]
  end

  def test_median
    assert_nil S.median([])
    assert_equal 2.0, S.median([3, 1, 2])
    assert_equal 2.5, S.median([4, 1, 3, 2])
  end

  def test_pair_slopes_counts_every_pair
    ts, ys = line(6, 2.0)
    slopes = S.pair_slopes(ts, ys)
    assert_equal 15, slopes.size
    slopes.each { |s| assert_in_delta 2.0, s, 1e-9 }
  end

  def test_theil_sen_ignores_outliers_least_squares_does_not
    ts, ys = line(40, 1.5)
    ys[5] += 1000
    ys[30] -= 800
    ys[31] += 900
    assert_in_delta 1.5, S.theil_sen(ts, ys), 1e-9
    refute_in_delta 1.5, ols(ts, ys), 1.0
  end

  def test_theil_sen_shrugs_off_a_fifth_of_the_points_corrupted
    ts, ys = line(50, -3.0, noise: 0.1)
    (0...50).step(5) { |i| ys[i] += 500 }
    assert_in_delta(-3.0, S.theil_sen(ts, ys), 0.5)
  end

  def test_fit_brackets_the_true_slope
    ts, ys = line(60, 4.0, noise: 2.0, seed: 7)
    f = S.fit(ts, ys)
    assert_operator f[:lo], :<, 4.0
    assert_operator f[:hi], :>, 4.0
    assert_operator f[:lo], :<, f[:slope]
    assert_operator f[:slope], :<, f[:hi]
    assert_operator f[:r2], :>, 0.5
  end

  def test_fit_on_pure_noise_does_not_claim_a_trend
    10.times do |seed|
      ts, ys = line(60, 0.0, noise: 5.0, seed: seed)
      f = S.fit(ts, ys)
      assert_operator f[:lo], :<, 0.0, "seed #{seed}: a trend found in noise"
    end
  end

  def test_autocorrelated_noise_widens_the_interval
    ts, white = line(80, 1.0, noise: 1.0, seed: 3)
    _, red = line(80, 1.0, noise: 1.0, seed: 3, phi: 0.9)
    fw = S.fit(ts, white)
    fr = S.fit(ts, red)
    assert_operator fr[:phi], :>, 0.5
    assert_operator fr[:n_eff], :<, fw[:n_eff]
    assert_operator fr[:hi] - fr[:lo], :>, fw[:hi] - fw[:lo]
  end

  def test_a_perfect_line_has_a_zero_width_interval
    ts, ys = line(20, 2.0)
    f = S.fit(ts, ys)
    assert_in_delta 2.0, f[:lo], 1e-9
    assert_in_delta 1.0, f[:r2], 1e-9
  end

  def test_fit_needs_three_points
    assert_nil S.fit([0.0, 1.0], [1.0, 2.0])
    refute_nil S.fit([0.0, 1.0, 2.0], [1.0, 2.0, 2.5])
  end

  def test_sen_bounds_contain_the_median
    ts, ys = line(30, 1.0, noise: 1.0, seed: 5)
    sorted = S.pair_slopes(ts, ys).sort
    lo, hi = S.sen_bounds(sorted, 30.0, 3.29)
    med = S.median_sorted(sorted)
    assert_operator lo, :<=, med
    assert_operator hi, :>=, med
    assert_equal [-Float::INFINITY, Float::INFINITY], S.sen_bounds(sorted, 2.0, 3.29)
  end

  def test_lag1_sign
    alternating = (0...40).map { |i| i.even? ? 1.0 : -1.0 }
    assert_operator S.lag1(alternating), :<, -0.9
    smooth = (0...40).map { |i| Math.sin(i / 6.0) }
    assert_operator S.lag1(smooth), :>, 0.8
    assert_equal 0.0, S.lag1([1.0, 2.0])
  end

  def test_split_slopes_sees_a_slowdown
    ts = (0...40).map { |i| i.to_f }
    ys = ts.map { |t| t < 20 ? 3 * t : 60 + 0.5 * (t - 20) }
    first, second = S.split_slopes(ts, ys, 2)
    assert_in_delta 3.0, first, 1e-9
    assert_in_delta 0.5, second, 0.2
  end

  def test_tail_and_slices
    ts = (0..9).map(&:to_f)
    ys = ts.map { |t| t * 2 }
    tt, ty = S.tail(ts, ys, 1.0 / 3)
    assert_equal [6.0, 7.0, 8.0, 9.0], tt
    assert_equal [12.0, 14.0, 16.0, 18.0], ty
    assert_equal [3, 3, 4], S.slices(ts, ys, 3).map { |st, _| st.size }
    assert_equal [2.0, 8.0, 15.0], S.split_medians(ts, ys, 3)
  end

  private

  def ols(ts, ys)
    mt = ts.sum / ts.size
    my = ys.sum / ys.size
    ts.each_index.sum { |i| (ts[i] - mt) * (ys[i] - my) } / ts.sum { |t| (t - mt)**2 }
  end
end
