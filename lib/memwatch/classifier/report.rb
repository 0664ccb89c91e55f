# frozen_string_literal: true

module Memwatch
  class Classifier
    # Builds the Verdict value object from an evaluation's findings: rates,
    # shares, evidence, confidence, advice, and the words.
    class Report # :nodoc:
      MALLOC_KINDS = %w[native ruby_malloc mixed].freeze
      COMPONENTS = %i[used anon rss heap live old alloc overhead frag dirty rmalloc other kernel threads].freeze

      # call-seq:
      #   Report.insufficient(evaluation, reason) -> Verdict
      def self.insufficient(evaluation, reason)
        new(evaluation, "insufficient_data", nil, nil, reason: reason).verdict
      end

      def initialize(evaluation, kind, level, attribution, **facts)
        @ev = evaluation
        @o = evaluation.opts
        @kind = kind
        @level = level
        @att = attribution
        @f = facts
      end

      # call-seq:
      #   report.verdict -> Verdict
      def verdict
        explanation, next_step = Explain.text(@kind, context)
        Verdict.new(kind: @kind, level: @level, confidence: confidence, rates: rates,
                    shares: @att ? shares : {}, ranked: ranked, evidence: evidence, window: window,
                    explanation: explanation, next_step: next_step, advice: advice)
      end

      private

      def context
        { rates: rates, shares: @att ? shares : {}, ranked: ranked, allocator: @ev.signals.allocator,
          signal: @f[:hit] && @f[:hit][:signal], method: @att&.method, retention: @f[:retention],
          threads: @att&.threads_growing?,
          released: @f[:released], pending: @f[:pending], flat: @f[:flat], floor: @f[:floor], minutes: window["minutes"],
          reason: @f[:reason], opts: @o }
      end

      def rates
        @rates ||= @att ? @att.rates : {}
      end

      def shares
        return { "outside_process" => 1.0 } if @kind == "outside_process"

        @att.shares
      end

      def ranked
        return [] unless @att && @level
        return [{ "kind" => "outside_process", "share" => 1.0 }] if @kind == "outside_process"

        @att.causes.map { |c| { "kind" => c["kind"], "share" => c["share"] } }
      end

      def span
        return [@att.from, @att.to] if @att

        sig = @ev.signals
        sig.empty? ? [nil, nil] : [sig.first_tick, sig.last_tick]
      end

      def window
        @window ||= begin
          from, to = span
          rows = from ? @ev.signals.index_range(from, to).size : 0
          { "from" => from&.round(3), "to" => to&.round(3), "samples" => rows,
            "minutes" => from ? ((to - from) / 60.0).round(1) : 0.0 }
        end
      end

      # How sure: the level, how much of the growth the named cause
      # explains, whether Ruby-owned malloc was measured, how long we looked.
      def confidence
        case @kind
        when "insufficient_data" then 0.0
        when "none" then 0.5 + 0.45 * [@ev.signals.span / @o[:grace], 1.0].min
        when "retention", "fragmentation"
          return growth_confidence if @level

          @f[:retention]&.fetch(:purged) || @f[:released].to_i.positive? ? 0.85 : 0.6
        else growth_confidence
        end
      end

      def growth_confidence
        base = @level == :confirmed ? 0.8 : 0.55
        top = ranked.first
        share = top ? [top["share"], 1.0].min : 0.5
        guess = @att&.tentative? && MALLOC_KINDS.include?(@kind) ? 0.15 : 0.0
        base + 0.2 * share - guess
      end

      def advice
        { heap_walk: heap_walk_advised?, purge: purge_advised? }
      end

      # Ruby-owned vs native malloc needs heap walks: ask for them while the
      # allocator grows fast (from the first minute on, so walks are there
      # when a leak is suspected), or a verdict depends on them.
      def heap_walk_advised?
        sig = @ev.signals
        return false if sig.empty?
        return true if @level && (MALLOC_KINDS.include?(@kind) || (@att&.shares || {}).key?("native"))
        return true if @f[:pending] && @att&.trend(:alloc)&.significant?(0)

        t = sig.last_tick
        from = [sig.first_tick, t - 2 * @o[:suspect_window]].max
        return false if t - from < 60

        tr = @ev.trend(:alloc, from, t)
        tr.usable? && tr.lower.positive? && tr.slope >= @o[:suspect_rate] / 4
      end

      # A purge tells retention from fragmentation: worth it when the
      # allocator's held-but-unused memory is what grows, and none ran yet.
      def purge_advised?
        return false if @f[:released].to_i.positive? || @f[:retention]&.fetch(:purged)
        return true if @f[:retention]
        return false unless @level && @att

        held = shares.values_at("fragmentation", "retention").sum(&:to_f)
        held >= 0.3
      end

      def evidence
        ev = { "allocator" => @ev.signals.allocator, "samples" => @ev.signals.size,
               "resets" => @ev.signals.resets, "rows_dropped" => @ev.signals.dropped }
        add_hit(ev)
        add_components(ev)
        add_purges(ev)
        ev["retention"] = stringify(@f[:retention]) if @f[:retention]
        ev["pending"] = @f[:pending][:trend].to_h if @f[:pending]
        ev
      end

      def add_hit(ev)
        hit = @f[:hit]
        return unless hit

        ev["signal"] = hit[:signal].to_s
        ev["trend"] = hit[:trend].to_h.merge("floor_per_hour" => hit[:floor].round)
      end

      def add_components(ev)
        return unless @att

        comps = COMPONENTS.filter_map do |name|
          tr = name == :rmalloc ? nil : @att.trend(name)
          [name.to_s, tr.to_h] if tr&.usable?
        end
        ev["components"] = comps.to_h
        moved = comps.select { |_, h| h["lower_per_hour"].to_i.positive? }
        ev["moved"] = moved.map(&:first)
        ev["summary"] = moved.map { |name, h| "#{name} #{per_hour(name, h['slope_per_hour'])} (r² #{h['r2']})" }
        ev["ruby_malloc_method"] = @att.method
        ev["heap_walks"] = @ev.signals.walk_count(@att.from, @att.to)
      end

      # old_objects and threads are counts, the rest bytes.
      def per_hour(name, value)
        return Explain.rate(value) unless %w[old threads].include?(name)

        "#{value.positive? ? '+' : ''}#{Verdict.human_count(value)}/h"
      end

      def add_purges(ev)
        list = @ev.signals.purges
        return if list.empty?

        ev["purges"] = list.map { |p| { "tick" => p[:tick], "released_bytes" => p[:released_bytes].to_i } }
      end

      def stringify(h)
        h.to_h { |k, v| [k.to_s, v.is_a?(Float) ? v.round(3) : v] }
      end
    end
  end
end
