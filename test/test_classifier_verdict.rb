# frozen_string_literal: true

require_relative "test_helper"
require_relative "test_classifier_synth"
require "memwatch/classifier"
require "json"

# The Verdict value object: JSON-friendly to_h, human to_s, exit codes.
class TestClassifierVerdict < Minitest::Test
  def verdict(kind, level = nil, **rest)
    Memwatch::Verdict.new(kind: kind, level: level, **rest)
  end

  def test_exit_codes_and_leak
    assert_equal 1, verdict("native", :suspected).exit_code
    assert_equal 1, verdict("ruby_objects", :confirmed).exit_code
    assert_equal 0, verdict("none").exit_code
    assert_equal 0, verdict("retention").exit_code
    assert_equal 3, verdict("insufficient_data").exit_code
    refute verdict("native").leak?, "no level: no claim"
    refute verdict("retention", :suspected).leak?
    assert verdict("outside_process", :suspected).leak?
  end

  def test_rejects_unknown_kinds_and_levels
    assert_raises(ArgumentError) { verdict("leaky") }
    assert_raises(ArgumentError) { verdict("native", :maybe) }
  end

  def test_frozen_and_clamped
    v = verdict("none", confidence: 7)
    assert v.frozen?
    assert_equal 1.0, v.confidence
  end

  def test_to_h_is_plain_json_data
    rows = ClassifierSynth.series(:native, seed: 1, minutes: 5, allocator: "jemalloc")
    v = Memwatch::Classifier.new.classify(rows)
    h = v.to_h
    assert_plain(h)
    back = JSON.parse(JSON.generate(h))
    assert_equal "native", back["kind"]
    assert_equal "suspected", back["level"]
    assert_equal true, back["leak"]
    assert_kind_of Integer, back["rates"]["rss"]
    assert_kind_of Hash, back["evidence"]["components"]
    assert_includes back["evidence"]["moved"], "alloc"
    %w[from to samples minutes].each { |k| assert back["window"].key?(k), k }
    assert_equal true, back["advice"]["heap_walk"]
    assert_equal false, back["advice"]["purge"]
  end

  def test_to_s_is_a_short_report
    rows = ClassifierSynth.series(:ruby_objects, seed: 2, minutes: 5)
    text = Memwatch::Classifier.new.classify(rows).to_s
    lines = text.lines
    assert_match(/\Amemwatch verdict: ruby_objects \(suspected\), confidence 0\.\d+/, lines.first)
    assert_operator lines.size, :<=, 8
    assert(lines.any? { |l| l.start_with?("  next step: ") })
    assert(lines.any? { |l| l =~ /rates: rss \+[\d.]+ (MiB|GiB)\/h/ })
  end

  def test_human_units
    assert_equal "512 B", Memwatch::Verdict.human_bytes(512)
    assert_equal "1.5 MiB", Memwatch::Verdict.human_bytes(1.5 * 1024 * 1024)
    assert_equal "-2.0 GiB/h", Memwatch::Verdict.human_rate(-2 * 1024**3)
  end

  private

  def assert_plain(value)
    case value
    when Hash
      value.each do |k, v|
        assert_kind_of String, k
        assert_plain(v)
      end
    when Array then value.each { |v| assert_plain(v) }
    else
      assert([String, Integer, Float, TrueClass, FalseClass, NilClass].any? { |c| value.is_a?(c) },
             "not JSON-friendly: #{value.inspect}")
      assert value.finite?, "not finite: #{value}" if value.is_a?(Float)
    end
  end
end
