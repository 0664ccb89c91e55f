# frozen_string_literal: true

require_relative "test_helper"
require_relative "test_classifier_synth"
require "memwatch/classifier"

# Each verdict kind on realistic synthetic series, glibc and jemalloc, a few
# seeds: a 1 MiB/s leak is suspected with the right kind within 5 minutes;
# slow leaks are confirmed only after the grace period; purges decide
# retention; the verdict's evidence is there.
class TestClassifierKinds < Minitest::Test
  MIB = 1024 * 1024
  Synth = ClassifierSynth
  ALLOCATORS = %w[glibc jemalloc].freeze
  SEEDS = (ENV["MEMWATCH_CLASSIFIER_SEEDS"] || "2").to_i

  def classify(rows, purges: [], **opts)
    Memwatch::Classifier.new(**opts).classify(rows, purges: purges)
  end

  # The first verdict claiming a leak, checking every 15 s like a monitor.
  def first_leak(rows, **opts)
    c = Memwatch::Classifier.new(**opts)
    t0 = rows.first[:tick]
    (120..(rows.last[:tick] - t0)).step(15) do |t|
      v = c.classify(rows.take_while { |r| r[:tick] <= t0 + t })
      return [t, v] if v.leak?
    end
    nil
  end

  {
    ruby_objects: "ruby_objects", ruby_malloc: "ruby_malloc", native: "native",
    native_virtual: "native", fragmentation: "fragmentation", kernel: "outside_process"
  }.each do |scenario, kind|
    ALLOCATORS.each do |allocator|
      define_method("test_#{scenario}_#{allocator}_suspected_within_5_minutes") do
        SEEDS.times do |seed|
          rows = Synth.series(scenario, seed: seed, minutes: 5, allocator: allocator)
          t, v = first_leak(rows)
          refute_nil t, "#{scenario}/#{allocator}/seed #{seed}: no leak found in 5 minutes:\n#{classify(rows)}"
          assert_equal kind, v.kind, "#{scenario}/#{allocator}/seed #{seed}:\n#{v}"
          assert_equal :suspected, v.level
          assert_equal 1, v.exit_code
          assert_evidence(v)
        end
      end
    end
  end

  def assert_evidence(verdict)
    h = verdict.to_h
    assert_operator h["evidence"]["trend"]["slope_per_hour"], :>, 0
    assert_operator h["evidence"]["trend"]["lower_per_hour"], :>, h["evidence"]["trend"]["floor_per_hour"]
    refute_empty verdict.explanation
    refute_empty verdict.next_step
    assert_operator verdict.window["minutes"], :>, 2
    assert verdict.rates.key?("rss")
  end

  def test_ruby_malloc_without_heap_walks_is_a_tentative_guess
    rows = Synth.series(:ruby_malloc, seed: 3, minutes: 5, walk_every: nil)
    v = classify(rows)
    # Without a walk, Ruby-owned and native malloc look alike: the verdict
    # says it guessed, and asks for a walk.
    assert_includes %w[ruby_malloc native], v.kind
    assert_equal "old_objects_guess", v.evidence["ruby_malloc_method"]
    assert_match(/tentative/, v.explanation)
    assert v.advice[:heap_walk]
    with_walks = classify(Synth.series(:ruby_malloc, seed: 3, minutes: 5))
    assert_equal "heap_walk", with_walks.evidence["ruby_malloc_method"]
    assert_operator with_walks.confidence, :>, v.confidence
  end

  def test_native_leak_asks_for_heap_walks_and_names_the_tool
    v = classify(Synth.series(:native, seed: 4, minutes: 5, allocator: "jemalloc"))
    assert v.advice[:heap_walk]
    assert_match(/prof:true/, v.next_step)
    assert_match(/jeprof/, v.next_step)
  end

  def test_slow_leak_is_confirmed_only_after_grace
    # 30 MiB/h: far below the fast floor. Short options keep the test quick;
    # the rules are the production ones.
    rows = Synth.series(:native, seed: 5, minutes: 100, rate: 30.0 / 3600, interval: 5.0)
    opts = { grace: 3600, window: 5400, confirm_step: 120 }
    early = classify(rows.first(600), **opts) # 50 min
    refute early.leak?
    # Slower than pending_rate: "none" for now, with the growth on record.
    assert_equal "none", early.kind
    assert_match(/slow leaks are confirmed after 1\.0 h/, early.explanation)
    assert_in_delta 30 * MIB, early.rates["allocator_allocated"], 10 * MIB
    late = classify(rows, **opts)
    assert_equal "native", late.kind
    assert_equal :confirmed, late.level
    assert_in_delta 30 * MIB, late.rates["allocator_allocated"], 8 * MIB
  end

  def test_warm_up_is_never_confirmed_with_short_windows
    rows = Synth.series(:warm_exp, seed: 6, minutes: 100, tau: 900.0, amount: 300.0, interval: 5.0)
    opts = { grace: 1800, window: 3600, confirm_step: 120 }
    [1800, 2400, 3600, 4800, 6000].each do |secs|
      v = classify(rows.take_while { |r| r[:tick] <= rows.first[:tick] + secs }, **opts)
      refute v.leak?, "at #{secs} s:\n#{v}"
    end
  end

  def test_fast_leak_held_for_half_an_hour_is_confirmed
    rows = Synth.series(:native, seed: 7, minutes: 36, rate: 1.0)
    v = classify(rows)
    assert_equal :confirmed, v.level
    assert_equal "native", v.kind
  end

  def test_purge_giving_back_the_growth_means_retention
    rows = Synth.series(:fragmentation, seed: 8, minutes: 5)
    grown = rows.last[:rss_anon_bytes] - rows[60][:rss_anon_bytes]
    purge = { tick: rows[-2][:tick], released_bytes: (grown * 0.8).round, rss_before_bytes: 1, rss_after_bytes: 1 }
    v = classify(rows, purges: [purge])
    assert_equal "retention", v.kind
    refute v.leak?
    assert_equal 0, v.exit_code
    assert_match(/purge gave back/, v.explanation)
    assert_equal 1, v.evidence["purges"].size
  end

  def test_purge_giving_back_little_leaves_the_verdict
    rows = Synth.series(:fragmentation, seed: 9, minutes: 5)
    v = classify(rows, purges: [{ tick: rows[-2][:tick], released_bytes: 2 * MIB }])
    assert_equal "fragmentation", v.kind
    refute v.advice[:purge], "a purge already ran"
  end

  def test_fragmentation_asks_for_a_purge
    v = classify(Synth.series(:fragmentation, seed: 10, minutes: 5))
    assert_equal "fragmentation", v.kind
    assert v.advice[:purge]
  end

  def test_live_data_dropped_but_rss_stayed_is_retention
    rows = Synth.series(:retention, seed: 11, minutes: 10, amount: 150.0, burst_at: 120.0, burst_for: 60.0)
    v = classify(rows)
    assert_equal "retention", v.kind
    assert_nil v.level
    refute v.leak?
    assert v.advice[:purge]
    assert_match(/Live data fell by/, v.explanation)
  end

  def test_retention_then_a_purge_that_frees_nothing_is_fragmentation
    rows = Synth.series(:retention, seed: 12, minutes: 10, amount: 150.0, burst_at: 120.0, burst_for: 60.0)
    v = classify(rows, purges: [{ tick: rows[-5][:tick], released_bytes: 0 }])
    assert_equal "fragmentation", v.kind
    refute v.leak?
    assert_match(/pinned/, v.explanation)
  end

  def test_outside_process_needs_the_process_flat
    v = classify(Synth.series(:kernel, seed: 13, minutes: 5))
    assert_equal "outside_process", v.kind
    assert_match(/kernel/, v.explanation)
    assert_operator v.rates["host_slab"], :>, 1000 * MIB
    # A process that leaks itself is not blamed on the host.
    both = Synth.series(:native, seed: 13, minutes: 5)
    assert_equal "native", classify(both).kind
  end

  def test_untouched_allocations_are_a_native_leak
    v = classify(Synth.series(:native_virtual, seed: 14, minutes: 5))
    assert_equal "native", v.kind
    assert_equal "alloc", v.evidence["signal"]
    assert_match(/never written/, v.explanation)
  end

  def test_unknown_allocator_still_finds_growth
    rows = Synth.series(:native, seed: 15, minutes: 5).map do |r|
      r.reject { |k, _| k.to_s.start_with?("glibc_") }
    end
    v = classify(rows)
    assert v.leak?
    assert_equal "unknown", v.evidence["allocator"]
  end
end
