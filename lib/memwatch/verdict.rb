# frozen_string_literal: true

module Memwatch
  # The answer to "my process grows: is it a leak, and whose?" with the
  # evidence behind it. Built by Memwatch::Classifier; plain data, frozen,
  # loadable without the native extension.
  #
  # Kinds: "none", "ruby_objects", "ruby_malloc", "native", "fragmentation",
  # "retention", "outside_process", "insufficient_data", "mixed".
  # Levels: :suspected (fast: a big, steady, clear leak), :confirmed (slow and
  # safe: persistent over hours, or suspected for a long time), or nil (no
  # growth claim: none, retention, insufficient_data).
  class Verdict
    KINDS = %w[none ruby_objects ruby_malloc native fragmentation retention
               outside_process insufficient_data mixed].freeze
    # Kinds that are growth a user must act on when a level is set.
    LEAK_KINDS = %w[ruby_objects ruby_malloc native fragmentation outside_process mixed].freeze
    LEVELS = [:suspected, :confirmed, nil].freeze

    attr_reader :kind, :level, :confidence, :rates, :shares, :ranked, :evidence,
                :window, :explanation, :next_step, :advice

    # call-seq:
    #   Verdict.new(kind:, level: nil, confidence: 0.0, rates: {}, shares: {},
    #               ranked: [], evidence: {}, window: {}, explanation: "",
    #               next_step: "", advice: {}) -> verdict
    #
    # +rates+ are bytes per hour per component (old_objects: objects per hour);
    # +shares+ the fraction of the growth each cause explains; +ranked+ the
    # causes, biggest first, as {"kind" =>, "share" =>}; +window+ {"from",
    # "to", "samples", "minutes"}; +advice+ {heap_walk: bool, purge: bool}.
    def initialize(kind:, level: nil, confidence: 0.0, rates: {}, shares: {}, ranked: [],
                   evidence: {}, window: {}, explanation: "", next_step: "", advice: {})
      raise ArgumentError, "unknown verdict kind #{kind.inspect}" unless KINDS.include?(kind)
      raise ArgumentError, "unknown level #{level.inspect}" unless LEVELS.include?(level)

      @kind = kind.dup.freeze
      @level = level
      @confidence = confidence.to_f.clamp(0.0, 1.0).round(2)
      @rates = rates.freeze
      @shares = shares.freeze
      @ranked = ranked.freeze
      @evidence = evidence.freeze
      @window = window.freeze
      @explanation = explanation.dup.freeze
      @next_step = next_step.dup.freeze
      @advice = advice.freeze
      freeze
    end

    # call-seq:
    #   verdict.leak? -> true or false
    #
    # True when memwatch claims growth that needs action (suspected or
    # confirmed, of a growth kind).
    def leak?
      !@level.nil? && LEAK_KINDS.include?(@kind)
    end

    # call-seq:
    #   verdict.confirmed? -> true or false
    def confirmed?
      @level == :confirmed
    end

    # call-seq:
    #   verdict.suspected? -> true or false
    def suspected?
      @level == :suspected
    end

    # call-seq:
    #   verdict.exit_code -> 0, 1 or 3
    #
    # For `memwatch summary`: 1 leak found, 3 insufficient data, 0 otherwise
    # (2, an error, never comes from a verdict).
    def exit_code
      return 1 if leak?
      return 3 if @kind == "insufficient_data"

      0
    end

    # call-seq:
    #   verdict.rss_rate -> Integer bytes/hour or nil
    #
    # The growth rate logged as leak_bytes_per_hour.
    def rss_rate
      @rates["rss"]
    end

    # call-seq:
    #   verdict.to_h -> Hash (String keys; strings, numbers, nil, arrays, hashes)
    def to_h
      { "kind" => @kind, "level" => @level&.to_s, "leak" => leak?, "confidence" => @confidence,
        "rates" => @rates, "shares" => @shares, "ranked" => @ranked, "window" => @window,
        "explanation" => @explanation, "next_step" => @next_step, "evidence" => @evidence,
        "advice" => @advice.transform_keys(&:to_s) }
    end

    # call-seq:
    #   verdict.to_s -> String (a short multi-line report)
    def to_s
      lines = ["memwatch verdict: #{headline}"]
      lines << "  #{@explanation}" unless @explanation.empty?
      lines << "  rates: #{rates_line}" unless rates_line.empty?
      lines << "  causes: #{ranked_line}" unless @ranked.empty?
      lines << "  window: #{window_line}" unless @window.empty?
      lines << "  next step: #{@next_step}" unless @next_step.empty?
      lines.join("\n") + "\n"
    end

    # call-seq:
    #   verdict.inspect -> "#<Memwatch::Verdict native (suspected), confidence 0.75>"
    def inspect
      "#<Memwatch::Verdict #{headline}>"
    end

    private

    def headline
      text = @kind.dup
      text << " (#{@level})" if @level
      text << ", confidence #{@confidence}" unless @kind == "insufficient_data"
      text
    end

    # The rates a reader looks at first (all of them are in #rates / to_h).
    SHOWN_RATES = %w[rss ruby_live ruby_malloc native allocator_allocated allocator_overhead host_slab].freeze
    private_constant :SHOWN_RATES

    def rates_line
      SHOWN_RATES.filter_map do |k|
        v = @rates[k]
        "#{k} #{self.class.human_rate(v)}" unless v.nil?
      end.join(", ")
    end

    def ranked_line
      @ranked.map { |r| "#{r['kind']} #{(r['share'] * 100).round}%" }.join(", ")
    end

    def window_line
      "#{@window['minutes']} min, #{@window['samples']} samples"
    end

    # call-seq:
    #   Verdict.human_bytes(bytes) -> "12.3 MiB"
    def self.human_bytes(bytes)
      mag = bytes.abs
      return format("%d B", bytes) if mag < 1024
      return format("%.1f KiB", bytes / 1024.0) if mag < 1024**2
      return format("%.1f MiB", bytes / 1024.0**2) if mag < 1024**3

      format("%.1f GiB", bytes / 1024.0**3)
    end

    # call-seq:
    #   Verdict.human_rate(bytes_per_hour) -> "+12.3 MiB/h"
    def self.human_rate(per_hour)
      sign = per_hour.negative? ? "-" : "+"
      "#{sign}#{human_bytes(per_hour.abs)}/h"
    end

    # call-seq:
    #   Verdict.human_count(n) -> "1.2M"
    def self.human_count(count)
      mag = count.abs
      return count.round.to_s if mag < 10_000
      return format("%.1fk", count / 1e3) if mag < 1e6

      format("%.1fM", count / 1e6)
    end
  end
end
