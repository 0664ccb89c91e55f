# frozen_string_literal: true

require "json"

module Memwatch
  module Endpoint
    # The dashboard's verdict banner. The verdict arrives as plain data (Verdict#to_h run
    # through Source.scrub); its shape is read loosely so the page survives the
    # classifier's evolution: kind, level, rate, summary, evidence and shares if present.
    class VerdictView
      LEAKS = %w[ruby_objects ruby_malloc native fragmentation retention outside_process].freeze

      def initialize(verdict)
        @v = verdict
      end

      def render
        return banner("info", "No verdict yet", "The classifier has not run; it needs a few minutes of samples.", []) unless @v
        kind = (@v["kind"] || @v["verdict"]).to_s
        headline = DashboardPage::HEADLINES.fetch(kind) { kind.empty? ? "No verdict" : kind.tr("_", " ") }
        banner(tone(kind), headline, [subline, first("explanation", "summary", "message", "error"), next_step], items)
      end

      private

      def h(value) = Html.h(value)

      def first(*keys) = keys.lazy.map { |k| @v[k] }.find { |x| !x.nil? && x != "" }

      def subline
        rates = @v["rates"].is_a?(Hash) ? @v["rates"] : {}
        rate = Units.rate(rates["rss"] || first("leak_bytes_per_hour"))
        c = @v["confidence"]
        confidence = c.is_a?(Numeric) && c.positive? ? "confidence #{(c * 100).round}%" : nil
        [level, rate && "RSS #{rate}", confidence].compact.join(" · ")
      end

      def next_step
        step = first("next_step")
        step && "Next step: #{step}"
      end

      def level
        l = first("level", "status", "confidence")
        l.is_a?(String) ? l : nil
      end

      def tone(kind)
        return "ok" if kind == "none"
        return "info" unless LEAKS.include?(kind)
        level == "confirmed" ? "bad" : "warn"
      end

      def banner(tone, headline, lines, items)
        text = Array(lines).compact.reject { |l| l.to_s.empty? }.map { |l| %(<p>#{h(l)}</p>) }.join
        list = items.empty? ? "" : %(<ul class="evidence">#{items.map { |i| "<li>#{h(i)}</li>" }.join}</ul>)
        %(<section class="verdict #{tone}"><div class="tag">verdict</div><h2>#{h(headline)}</h2>#{text}#{list}</section>\n)
      end

      def items
        ev = @v["evidence"]
        list = case ev
               when Array then ev.map { |e| e.is_a?(Hash) ? describe(e) : e.to_s }
               when Hash then ev.map { |k, val| "#{k.tr("_", " ")}: #{value(k, val)}" }
               when String then [ev]
               else []
               end
        list.unshift(shares) if @v["shares"].is_a?(Hash) && @v["shares"].any? { |_, x| x.is_a?(Numeric) }
        list.first(12)
      end

      def describe(hash)
        text = hash["text"] || hash["message"] || hash["summary"]
        return text.to_s if text
        hash.map { |k, val| "#{k.tr("_", " ")}: #{value(k, val)}" }.join(", ")
      end

      def shares
        parts = @v["shares"].select { |_, x| x.is_a?(Numeric) }.sort_by { |_, x| -x }
        "shares of the growth: " + parts.map { |k, x| "#{k.tr("_", " ")} #{(x * 100).round}%" }.join(" · ")
      end

      def value(key, val)
        return Units.rate(val) if key.end_with?("bytes_per_hour") && val.is_a?(Numeric)
        return Units.bytes(val.round) if key.end_with?("_bytes") && val.is_a?(Numeric)
        return val.round(3).to_s if val.is_a?(Float)
        return Units.count(val) if val.is_a?(Integer) && val.abs >= 10_000
        val.is_a?(Hash) || val.is_a?(Array) ? JSON.generate(val)[0, 200] : val.to_s
      end
    end
  end
end
