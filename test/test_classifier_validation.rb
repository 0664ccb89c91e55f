# frozen_string_literal: true

require_relative "test_helper"
require_relative "test_classifier_synth"
require "memwatch/classifier"

# A small Monte Carlo over randomised scenarios: leak rates, warm-up sizes
# and time constants, noise and garbage volumes are drawn per seed from
# plausible ranges, so no rule can be tuned to one run. The suite runs a few
# seeds; `rake classifier:validate` runs many (MEMWATCH_CLASSIFIER_SEEDS) and
# prints the detection-time and false-alarm table (MEMWATCH_CLASSIFIER_REPORT).
class TestClassifierValidation < Minitest::Test
  SEEDS = (ENV["MEMWATCH_CLASSIFIER_SEEDS"] || "2").to_i
  REPORT = ENV["MEMWATCH_CLASSIFIER_REPORT"]
  LEAKS = { ruby_objects: "ruby_objects", ruby_malloc: "ruby_malloc", native: "native",
            fragmentation: "fragmentation", kernel: "outside_process" }.freeze

  @@table = []

  Minitest.after_run { print_table } if REPORT

  def self.print_table
    puts "\nscenario                   runs  right-kind  first-leak-s (median/max)  false-alarms"
    @@table.group_by(&:first).each do |name, rows|
      times = rows.filter_map { |r| r[2] }.sort
      right = rows.count { |r| r[3] }
      wrong = rows.count { |r| r[4] }
      puts format("%-26s %4d  %10d  %12s / %-12s %6d", name, rows.size, right,
                  times[times.size / 2] || "-", times.last || "-", wrong)
    end
  end

  def noise_opts(rng)
    { noise: 0.5 + rng.rand * 3.0, churn: 5.0 + rng.rand * 40.0 }
  end

  # Checkpoints a monitor would see: every +step+ seconds from 2 minutes.
  def verdicts(rows, step, last = nil)
    c = Memwatch::Classifier.new
    t0 = rows.first[:tick]
    ends = (120..(last || (rows.last[:tick] - t0))).step(step)
    ends.lazy.map { |t| [t, c.classify(rows.take_while { |r| r[:tick] <= t0 + t })] }
  end

  def test_leaks_of_one_mib_per_second_or_more_are_named_within_five_minutes
    LEAKS.each do |scenario, kind|
      %w[glibc jemalloc].each do |allocator|
        SEEDS.times do |seed|
          rng = Random.new(seed * 7919 + scenario.to_s.sum)
          rate = 1.0 + rng.rand * 2.0
          rows = ClassifierSynth.series(scenario, seed: seed, minutes: 5, rate: rate, allocator: allocator,
                                        start_at: rng.rand * 20, **noise_opts(rng))
          t, v = verdicts(rows, 15).find { |_, x| x.leak? }
          @@table << ["#{scenario}/#{allocator}", seed, t, v&.kind == kind, false]
          refute_nil t, "#{scenario}/#{allocator} seed #{seed} rate #{rate.round(2)}: not found by 5 min"
          assert_equal kind, v.kind, "#{scenario}/#{allocator} seed #{seed}:\n#{v}"
        end
      end
    end
  end

  # Apps warm up under load while they leak: a start-up cache of up to
  # 100 MiB filling within the first minutes, on top of a leak that starts
  # within the first two. (A bigger, slower warm-up masks the leak until it
  # fades: the sum decelerates. See the limits in doc/readme-classifier.md.)
  def test_leaks_behind_a_warm_up_are_named_within_five_minutes_of_their_start
    %i[native ruby_malloc ruby_objects].each do |scenario|
      %w[glibc jemalloc].each do |allocator|
        SEEDS.times do |seed|
          rng = Random.new(seed * 31 + scenario.to_s.sum)
          start = rng.rand * 120
          warm = { amount: 30 + rng.rand * 70, tau: 20 + rng.rand * 40 }
          rows = ClassifierSynth.series(scenario, seed: seed, minutes: 7, rate: 1.0 + rng.rand, start_at: start,
                                        allocator: allocator, warm: warm, **noise_opts(rng))
          t, v = verdicts(rows, 15).find { |_, x| x.leak? }
          @@table << ["warm+#{scenario}/#{allocator}", seed, t && (t - start).round, v&.kind == LEAKS[scenario], false]
          refute_nil t, "#{scenario}/#{allocator} seed #{seed} #{warm}: not found"
          assert_operator t - start, :<=, 300, "#{scenario}/#{allocator} seed #{seed}: #{(t - start).round} s after its start"
          assert_equal LEAKS[scenario], v.kind, "#{scenario}/#{allocator} seed #{seed}:\n#{v}"
        end
      end
    end
  end

  def test_warm_ups_and_steady_apps_never_claim_a_leak_in_thirty_minutes
    %i[steady warm_exp warm_linear warm_steps step].each do |scenario|
      %w[glibc jemalloc].each do |allocator|
        SEEDS.times do |seed|
          rng = Random.new(seed * 104_729 + scenario.to_s.sum)
          opts = warm_opts(scenario, rng).merge(noise_opts(rng))
          rows = ClassifierSynth.series(scenario, seed: seed, minutes: 30, allocator: allocator, **opts)
          t, v = verdicts(rows, 60).find { |_, x| x.leak? }
          @@table << ["#{scenario}/#{allocator}", seed, nil, true, !t.nil?]
          assert_nil t, "#{scenario}/#{allocator} seed #{seed} #{opts}: claimed at #{t} s:\n#{v}"
        end
      end
    end
  end

  # Warm-ups of up to 250 MiB levelling off within minutes (τ ≤ 6 min);
  # caches filling linearly at up to 1 MiB/s for up to 3 minutes, or slowly
  # (≤ 0.4 MiB/s) for up to 25 minutes: the "caches filling, lazy loading" a
  # deploy shows. Bigger and longer fast fills are the documented limit
  # (doc/readme-classifier.md, "Limits").
  def warm_opts(scenario, rng)
    case scenario
    when :warm_exp then { tau: 60 + rng.rand * 300, amount: 50 + rng.rand * 200 }
    when :warm_linear then linear_fill(rng)
    when :warm_steps then { tau: 60 + rng.rand * 300, amount: 50 + rng.rand * 250 }
    when :step then { amount: 50 + rng.rand * 400, step_at: 120 + rng.rand * 1200 }
    else {}
    end
  end

  def linear_fill(rng)
    if rng.rand < 0.5
      rate = 0.3 + rng.rand * 0.7
      { rate: rate, amount: rate * (60 + rng.rand * 140) }
    else
      rate = 0.1 + rng.rand * 0.3
      { rate: rate, amount: rate * (300 + rng.rand * 1200) }
    end
  end
end
