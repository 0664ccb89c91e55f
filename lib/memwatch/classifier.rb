# frozen_string_literal: true

require_relative "verdict"
require_relative "classifier/stats"
require_relative "classifier/signals"
require_relative "classifier/trend"
require_relative "classifier/attribution"
require_relative "classifier/checks"
require_relative "classifier/retention"
require_relative "classifier/explain"
require_relative "classifier/report"
require_relative "classifier/evaluation"

module Memwatch
  # The leak classifier: a sample series in, a Verdict out. Pure Ruby; it
  # needs neither the native extension nor a running sampler, so the CLI can
  # classify a log file and tests can classify synthetic series.
  #
  # Two questions, answered separately (see doc/readme-classifier.md):
  # 1. Is there sustained growth? Floors of post-GC values, Theil–Sen slopes
  #    with autocorrelation-aware bounds, no slowdown, spread over the window,
  #    persistent. Two levels: suspected (fast) and confirmed (slow, safe).
  # 2. What grew? Shares of the growth: Ruby heap, Ruby-owned malloc, native
  #    malloc, allocator overhead, host kernel.
  class Classifier
    MIB = 1024 * 1024

    # Every option, its default, and why (rates are bytes per hour, times
    # seconds). The defaults are safe for production; tests and load tests
    # may shorten windows.
    DEFAULTS = {
      # confirmed (slow, safe) -----------------------------------------------
      window: 6 * 3600,          # long window: growth is judged over the last 6 h
      grace: 2 * 3600,           # history needed before the slow path may confirm
      confirm_step: 300,         # spacing of the evaluations that must agree
      persistence: 3,            # evaluations that must agree (both levels)
      z: 3.29,                   # two-sided 99.9% bound on the slope
      floor_rate: 2 * MIB,       # growth below 2 MiB/h is never a leak...
      floor_fraction: 0.005,     # ...nor below 0.5% of RSS per hour
      late_ratio: 0.7,           # last third's slope ≥ 0.7 × the window's: not levelling off
      spread_fraction: 0.2,      # each quarter's median rises ≥ 20% of the expected rise
      kernel_rate: 16 * MIB,     # host slab (shared by every process) needs more
      min_span: 240,             # history needed for "none" rather than insufficient_data
      pending_rate: 252 * MIB,   # young growth slower than 0.07 MiB/s is "none" (rate shown),
                                 # faster is insufficient_data until it can be judged
      # suspected (fast, for big clear leaks) -------------------------------
      suspect_window: 180,       # short window
      suspect_step: 30,          # spacing of its persistence evaluations
      suspect_rate: 1800 * MIB,  # 0.5 MiB/s: the slope must clear this (its lower bound half)...
      suspect_fraction: 1.0,     # ...and doubling the process within an hour
      slowdown_ratio: 0.8,       # "slowing down": the history's last third under 0.8 × its first...
      halves_ratio: 0.5,         # ...or the short window's second half under 0.5 × its first...
      slowdown_z: 1.5,           # ...by more than 1.5 standard errors (one-sided: a false
                                 # "slowing" only delays a leak; a missed one is a false alarm)
      suspect_context: 1800,     # history looked at for a slowdown (at most this far back)...
      suspect_settle: 60,        # ...skipping the first minute of the series (start-up)
      fast_confirm: 1800,        # suspected without a break this long ⇒ confirmed
      # question 2 and the rest ---------------------------------------------
      kind_share: 0.5,           # a cause explaining ≥ 50% names the verdict
      purge_share: 0.5,          # a purge giving back ≥ 50% of the growth ⇒ retention
      purge_min: 16 * MIB,       # ...and at least this much
      retention_min: 32 * MIB,   # live data must fall at least this much...
      retention_fraction: 0.1,   # ...and 10% of RSS for "retention" without growth
      min_points: 12,            # fewer floor points in a window: no test
      points: 60,                # at most this many floors per window (Theil–Sen is O(n²))
      bucket_min: 5              # a floor bucket spans at least 5 s
    }.freeze

    attr_reader :options

    # call-seq:
    #   Classifier.new(**options) -> classifier
    #
    # Options are DEFAULTS' keys; unknown keys and non-positive values raise
    # ArgumentError.
    def initialize(**options)
      unknown = options.keys - DEFAULTS.keys
      raise ArgumentError, "unknown classifier option(s): #{unknown.join(', ')}" unless unknown.empty?

      options.each do |k, v|
        raise ArgumentError, "classifier option #{k} must be a positive number, got #{v.inspect}" unless v.is_a?(Numeric) && v.positive?
      end
      @options = DEFAULTS.merge(options).freeze
    end

    # call-seq:
    #   classifier.classify(samples, purges: []) -> Verdict
    #
    # +samples+: Array of sample Hashes, oldest first (Memwatch.samples, or
    # rows read from a log). +purges+: results of Memwatch.purge, each with a
    # :tick (epoch seconds; results without one count as after the last
    # sample) and :released_bytes (or :rss_before_bytes/:rss_after_bytes).
    def classify(samples, purges: [])
      signals = Signals.new(samples, purges: normalize_purges(purges), horizon: horizon,
                                     grain: @options[:bucket_min])
      Evaluation.new(signals, @options).verdict
    end

    # call-seq:
    #   classifier.horizon -> seconds
    #
    # How far back before the last sample the classifier looks (older rows
    # are ignored, so callers need not fetch them).
    def horizon
      @options[:window] + @options[:persistence] * @options[:confirm_step] +
        @options[:fast_confirm] + @options[:suspect_context]
    end

    private

    def normalize_purges(purges)
      raise ArgumentError, "purges must be an Array of Hashes" unless purges.is_a?(Array)

      purges.map do |p|
        raise ArgumentError, "purge result must be a Hash, got #{p.class}" unless p.is_a?(Hash)

        released = p[:released_bytes] || (p[:rss_before_bytes].to_i - p[:rss_after_bytes].to_i)
        tick = p[:tick] || p[:at]
        raise ArgumentError, "purge :tick must be a number" unless tick.nil? || tick.is_a?(Numeric)

        { tick: tick&.to_f, released_bytes: [released.to_i, 0].max }
      end
    end
  end
end
