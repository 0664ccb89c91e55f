# frozen_string_literal: true

require_relative "test_helper"
require_relative "test_classifier_synth"
require "memwatch/classifier/monitor"

# The periodic entry point: cadence, heap-walk and purge policy, notifying.
# Walker and purger are recorded stand-ins here; test_heap_walk.rb forks for
# real.
class TestClassifierMonitor < Minitest::Test
  class FakeWalker
    attr_reader :starts, :polls, :aborts

    def initialize
      @starts = 0
      @polls = 0
      @aborts = 0
    end

    def running? = false
    def start = (@starts += 1) && true
    def poll = (@polls += 1) && nil
    def abort(_reason = nil) = (@aborts += 1) && nil
  end

  def setup
    @now = 1000.0
    @walker = FakeWalker.new
    @purged = []
    @notified = []
  end

  def monitor(**opts)
    Memwatch::Classifier::Monitor.new(
      walker: @walker, clock: -> { @now }, notifier: ->(v) { @notified << v },
      purger: -> { { tick: 1.0, released_bytes: 0 }.tap { |r| @purged << r } }, **opts
    )
  end

  def test_evaluates_only_when_due_and_fetches_samples_lazily
    m = monitor(every: 30)
    rows = ClassifierSynth.series(:steady, seed: 1, minutes: 10)
    fetched = 0
    since = nil
    assert_kind_of Memwatch::Verdict, m.tick { |s| since = s; fetched += 1; rows }
    assert_in_delta Time.now.to_f - Memwatch::Classifier.new.horizon, since, 5
    @now += 10
    assert_nil m.tick { fetched += 1; rows }
    @now += 25
    refute_nil m.tick { fetched += 1; rows }
    assert_equal 2, fetched
    assert_equal 3, @walker.polls, "a running walk is polled at every tick"
    assert_equal 2, @notified.size
    assert_equal "none", m.verdict.kind
  end

  def test_tick_needs_samples
    assert_raises(ArgumentError) { monitor.tick }
  end

  def test_heap_walks_follow_the_advice_and_their_intervals
    m = monitor(heap_walk_suspect_interval: 60, heap_walk_interval: 1800)
    leak = ClassifierSynth.series(:native, seed: 2, minutes: 5)
    m.evaluate(leak)
    assert m.verdict.advice[:heap_walk]
    assert_equal 1, @walker.starts
    @now += 30
    m.evaluate(leak)
    assert_equal 1, @walker.starts, "not again within 60 s"
    @now += 31
    m.evaluate(leak)
    assert_equal 2, @walker.starts
    steady = ClassifierSynth.series(:steady, seed: 3, minutes: 10)
    @now += 100
    m.evaluate(steady)
    assert_equal 2, @walker.starts, "routine walks wait heap_walk_interval"
    @now += 1800
    m.evaluate(steady)
    assert_equal 3, @walker.starts
  end

  def test_heap_walk_false_never_walks
    m = monitor(heap_walk: false)
    m.evaluate(ClassifierSynth.series(:native, seed: 4, minutes: 5))
    assert_equal 0, @walker.starts
  end

  def test_purges_when_advised_at_most_every_interval
    m = monitor(purge_interval: 600)
    frag = ClassifierSynth.series(:fragmentation, seed: 5, minutes: 5)
    m.evaluate(frag)
    assert_equal 1, @purged.size
    assert_equal 1, m.purges.size, "the result is remembered and fed back"
    @now += 100
    m.evaluate(frag)
    assert_equal 1, @purged.size
    steady = ClassifierSynth.series(:steady, seed: 6, minutes: 10)
    @now += 1000
    m.evaluate(steady)
    assert_equal 1, @purged.size, "nothing to purge for"
  end

  def test_auto_purge_off
    m = monitor(auto_purge: false)
    m.evaluate(ClassifierSynth.series(:fragmentation, seed: 7, minutes: 5))
    assert_empty @purged
    assert m.verdict.advice[:purge]
  end

  def test_external_purge_results_feed_the_classifier
    rows = ClassifierSynth.series(:fragmentation, seed: 8, minutes: 5)
    grown = rows.last[:rss_anon_bytes] - rows[60][:rss_anon_bytes]
    external = [{ tick: rows[-2][:tick], released_bytes: grown }]
    m = Memwatch::Classifier::Monitor.new(walker: @walker, clock: -> { @now }, notifier: nil,
                                          purger: -> { raise "not expected" }, purges: -> { external })
    assert_equal "retention", m.evaluate(rows).kind
  end

  def test_unknown_option
    assert_raises(ArgumentError) { monitor(evry: 3) }
  end

  def test_with_the_real_sampler_the_log_columns_get_the_verdict
    begin
      require "memwatch"
    rescue LoadError
      skip "native extension not built"
    end
    skip "memwatch already running" if Memwatch.running?
    Memwatch.start(interval: 0.05)
    m = Memwatch::Classifier::Monitor.new(heap_walk: false)
    v = m.tick { |since| Memwatch.samples(resolution: :all, since: since) }
    assert_equal "insufficient_data", v.kind
    row = nil
    deadline = Time.now + 10
    until row || Time.now > deadline
      sleep 0.05
      row = Memwatch.samples.find { |r| r[:verdict] }
    end
    refute_nil row, "no sample carried the verdict"
    assert_equal "insufficient_data", row[:verdict]
    assert_nil row[:leak_bytes_per_hour], "a rate is logged only with a leak claim"
  ensure
    Memwatch.stop if defined?(Memwatch.running?) && Memwatch.running?
  end

  def test_stop_aborts_a_walk
    m = monitor
    m.stop
    assert_equal 1, @walker.aborts
  end

  # A classifier that answers from a script, to test the Monitor's hysteresis.
  class ScriptedClassifier
    def initialize(*verdicts) = @verdicts = verdicts
    def classify(_samples, purges: []) = @verdicts.shift
    def horizon = 3600
  end

  def verdict(kind, level = nil)
    Memwatch::Verdict.new(kind: kind, level: level, explanation: "#{kind} here", window: { "minutes" => 4 })
  end

  def test_a_leak_verdict_is_held_through_evaluations_that_cannot_judge
    scripted = ScriptedClassifier.new(verdict("ruby_objects", :suspected), verdict("insufficient_data"),
                                      verdict("insufficient_data"), verdict("none"))
    m = monitor(classifier: scripted, hold: 60, heap_walk: false, auto_purge: false)
    assert_equal "ruby_objects", m.evaluate([]).kind
    @now += 30
    held = m.evaluate([])
    assert_equal ["ruby_objects", :suspected], [held.kind, held.level]
    assert_equal true, held.evidence["held"]
    assert_equal "insufficient_data", held.evidence["latest"]
    assert_match(/Held: the latest evaluation could not judge/, held.explanation)
    @now += 40 # 70 s after the last support: past the hold
    assert_equal "insufficient_data", m.evaluate([]).kind
    assert_equal "none", m.evaluate([]).kind
  end

  def test_none_replaces_a_held_leak_at_once
    scripted = ScriptedClassifier.new(verdict("native", :suspected), verdict("none"))
    m = monitor(classifier: scripted, hold: 600, heap_walk: false, auto_purge: false)
    m.evaluate([])
    @now += 10
    assert_equal "none", m.evaluate([]).kind
  end
end
