# frozen_string_literal: true

require_relative "test_helper"
require_relative "test_classifier_synth"
require "memwatch/classifier"

# The classifier on synthetic series with one known property each: input
# handling, noise, steps, a GC sawtooth, warm-ups, gaps, nils, resets.
class TestClassifier < Minitest::Test
  MIB = 1024 * 1024
  Synth = ClassifierSynth

  def classify(rows, purges: [], **opts)
    Memwatch::Classifier.new(**opts).classify(rows, purges: purges)
  end

  # Verdicts at every +step+ seconds from 2 minutes on, as a running monitor
  # would have seen them.
  def timeline(rows, step, **opts)
    c = Memwatch::Classifier.new(**opts)
    t0 = rows.first[:tick]
    (120..(rows.last[:tick] - t0)).step(step).map do |t|
      [t, c.classify(rows.take_while { |r| r[:tick] <= t0 + t })]
    end
  end

  def assert_never_leaks(rows, step: 60, **opts)
    timeline(rows, step, **opts).each do |t, v|
      refute v.leak?, "claimed #{v.kind} (#{v.level}) at #{t} s:\n#{v}"
    end
  end

  def test_synthetic_series_have_the_contract_keys_and_grow_where_told
    rows = Synth.series(:ruby_objects, seed: 1, minutes: 3, rate: 1.0)
    assert_equal 181, rows.size
    assert(%i[tick count old_objects rss_anon_bytes glibc_in_use_bytes ruby_heap_bytes].all? { |k| rows.last.key?(k) })
    assert_operator rows.last[:old_objects] - rows.first[:old_objects], :>, 3_000_000
    assert_operator rows.last[:rss_anon_bytes] - rows.first[:rss_anon_bytes], :>, 150 * MIB
    steady = Synth.series(:steady, seed: 2, minutes: 10, allocator: "jemalloc")
    growth = steady.last(30).sum { |r| r[:rss_anon_bytes] } / 30 - steady[60, 30].sum { |r| r[:rss_anon_bytes] } / 30
    assert_operator growth.abs, :<, 20 * MIB
  end

  def test_no_samples_is_insufficient_data
    v = classify([])
    assert_equal "insufficient_data", v.kind
    assert_equal 3, v.exit_code
    assert_match(/no samples/, v.explanation)
  end

  def test_two_minutes_are_not_enough_to_say_none
    v = classify(Synth.series(:steady, seed: 1, minutes: 2))
    assert_equal "insufficient_data", v.kind
    assert_match(/min of samples/, v.explanation)
  end

  def test_steady_process_is_none
    v = classify(Synth.series(:steady, seed: 2, minutes: 20))
    assert_equal "none", v.kind
    assert_nil v.level
    assert_equal 0, v.exit_code
    assert_operator v.confidence, :>, 0.5
  end

  def test_bad_input_raises_clear_errors
    assert_raises(ArgumentError) { classify("not rows") }
    e = assert_raises(ArgumentError) { classify([{ tick: 1.0 }, 42]) }
    assert_match(/sample 1 must be a Hash/, e.message)
    e = assert_raises(ArgumentError) { classify([{ tick: "now" }]) }
    assert_match(/tick must be a number/, e.message)
    rows = Synth.series(:steady, seed: 3, minutes: 3)
    rows[10] = rows[10].merge(rss_anon_bytes: "12 MB")
    e = assert_raises(ArgumentError) { classify(rows) }
    assert_match(/rss_anon_bytes must be a number or nil, got "12 MB"/, e.message)
    assert_raises(ArgumentError) { classify(rows.first(3), purges: [1]) }
  end

  def test_options_are_checked
    e = assert_raises(ArgumentError) { Memwatch::Classifier.new(windw: 10) }
    assert_match(/unknown classifier option\(s\): windw/, e.message)
    assert_raises(ArgumentError) { Memwatch::Classifier.new(grace: 0) }
    assert_raises(ArgumentError) { Memwatch::Classifier.new(z: "3") }
    assert_equal 600, Memwatch::Classifier.new(window: 600).options[:window]
  end

  def test_noise_alone_is_not_a_leak
    assert_never_leaks(Synth.series(:steady, seed: 4, minutes: 20, noise: 8.0, churn: 40.0, allocator: "jemalloc"))
  end

  def test_gc_sawtooth_is_not_a_leak
    # 80 MiB of garbage between GCs: the allocator and RSS saw-tooth hard.
    assert_never_leaks(Synth.series(:steady, seed: 5, minutes: 20, churn: 80.0))
  end

  def test_one_off_step_is_not_a_leak
    assert_never_leaks(Synth.series(:step, seed: 6, minutes: 20, amount: 300.0, step_at: 400.0), step: 30)
  end

  def test_fast_warm_up_that_levels_off_is_none
    rows = Synth.series(:warm_exp, seed: 7, minutes: 30, tau: 120.0, amount: 200.0)
    assert_never_leaks(rows)
    v = classify(rows)
    assert_equal "none", v.kind
    assert_match(/levelling off|flat/, v.explanation)
  end

  def test_warm_up_still_climbing_at_minute_three_is_not_a_leak
    # τ = 5 min: at minute 3 it still climbs ~0.4 MiB/s.
    assert_never_leaks(Synth.series(:warm_exp, seed: 8, minutes: 30, tau: 300.0, amount: 250.0), step: 15)
  end

  def test_cache_filled_at_full_speed_then_full_is_not_a_leak
    assert_never_leaks(Synth.series(:warm_linear, seed: 9, minutes: 20, rate: 1.0, amount: 150.0), step: 15)
  end

  def test_lazy_loading_steps_are_not_a_leak
    assert_never_leaks(Synth.series(:warm_steps, seed: 10, minutes: 20, tau: 240.0, amount: 200.0), step: 30)
  end

  def test_nil_values_are_skipped
    rows = Synth.series(:native, seed: 11, minutes: 5).each_with_index.map do |r, i|
      i % 3 == 1 ? r.merge(rss_anon_bytes: nil, rss_bytes: nil, heap_marked_slots: nil) : r
    end
    v = classify(rows)
    assert_equal "native", v.kind
    assert v.leak?
  end

  def test_gap_in_time_is_tolerated
    rows = Synth.series(:native, seed: 12, minutes: 8, gap: [100.0, 220.0])
    assert_equal "native", classify(rows).kind
    steady = Synth.series(:steady, seed: 12, minutes: 15, gap: [300.0, 600.0])
    assert_equal "none", classify(steady).kind
  end

  def test_gap_at_the_end_waits_for_fresh_data
    rows = Synth.series(:native, seed: 13, minutes: 6, gap: [200.0, 400.0])
    v = classify(rows)
    refute v.leak?, "a 150 s window with no rows cannot show a leak:\n#{v}"
  end

  def test_fork_reset_drops_the_parents_rows
    parent = Synth.series(:native, seed: 14, minutes: 6)
    child = Synth.series(:steady, seed: 15, minutes: 8, t0: parent.last[:tick] + 1)
    v = classify(parent + child)
    assert_equal "none", v.kind
    assert_equal 1, v.evidence["resets"]
    assert_equal parent.size, v.evidence["rows_dropped"]
  end

  def test_zeroed_gc_counters_of_a_fresh_fork_are_ignored
    rows = Synth.series(:steady, seed: 16, minutes: 10)
    zeros = { count: 0, major_gc_count: 0, minor_gc_count: 0, heap_allocated_pages: 0, old_objects: 0,
              heap_marked_slots: 0, heap_available_slots: 0, total_allocated_objects: 0, ruby_heap_bytes: 0 }
    rows[0, 3] = rows[0, 3].map { |r| r.merge(zeros) }
    v = classify(rows)
    assert_equal "none", v.kind
    assert_equal 0, v.evidence["resets"]
  end

  def test_mixed_resolutions_long_ring_then_recent_ring
    all = Synth.series(:native, seed: 17, minutes: 90, rate: 0.1)
    cut = all.last[:tick] - 1800
    rows = all.each_with_index.select { |r, i| r[:tick] > cut || (i % 60).zero? }.map(&:first)
    v = classify(rows)
    # 360 MiB/h is under the fast floor and 90 min is inside the 2 h grace:
    # growing, but too early to call.
    assert_equal "insufficient_data", v.kind
    assert_match(/grows (steadily|unevenly) at/, v.explanation)
    assert_operator v.window["minutes"], :>, 80
    assert_in_delta 0.1 * 3600 * MIB, v.rates["anon"], 0.1 * 3600 * MIB * 0.3
    short = classify(rows, grace: 3600, window: 5400)
    assert_equal "native", short.kind
    assert_equal :confirmed, short.level
  end

  def test_unsorted_rows_are_sorted
    rows = Synth.series(:native, seed: 18, minutes: 5)
    assert_equal "native", classify(rows.shuffle(random: Random.new(1))).kind
  end

  def test_other_row_types_are_ignored
    rows = Synth.series(:steady, seed: 19, minutes: 10)
    rows.insert(100, { type: "gc_end", tick: rows[100][:tick], count: 1 })
    assert_equal "none", classify(rows).kind
  end

  def test_large_history_within_the_window_still_classifies
    all = Synth.series(:steady, seed: 20, minutes: 48 * 60, interval: 60.0)
    recent = Synth.series(:steady, seed: 21, minutes: 30, t0: all.last[:tick] + 1, count0: all.last[:count] + 1)
    v = classify(all + recent)
    assert_equal "none", v.kind
    assert_operator v.evidence["samples"], :<, all.size + recent.size
  end
end
