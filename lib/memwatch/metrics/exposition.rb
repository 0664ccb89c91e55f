# frozen_string_literal: true

module Memwatch
  class Metrics
    # The Prometheus text exposition format, version 0.0.4: per family one HELP and one
    # TYPE line, then all its samples together; label values escaped; no timestamps;
    # the body ends with a newline. Non-finite and missing values are left out.
    class Exposition
      NAME = /\A[a-zA-Z_:][a-zA-Z0-9_:]*\z/.freeze
      LABEL = /\A[a-zA-Z_][a-zA-Z0-9_]*\z/.freeze

      def initialize
        @out = +""
      end

      # call-seq:
      #   exposition.family(name, type, help, samples) -> self
      #
      # +samples+: Array of [labels Hash, value]. A family without a usable value is not
      # written at all (no HELP/TYPE without samples).
      def family(name, type, help, samples)
        raise ArgumentError, "bad metric name #{name.inspect}" unless NAME.match?(name)

        lines = samples.filter_map { |labels, value| line(name, labels, value) }
        return self if lines.empty?

        @out << "# HELP #{name} #{escape_help(help)}\n# TYPE #{name} #{type}\n"
        lines.each { |l| @out << l }
        self
      end

      def to_s = @out.dup

      private

      def line(name, labels, value)
        number = format_value(value) or return nil
        "#{name}#{format_labels(labels)} #{number}\n"
      end

      def format_labels(labels)
        return "" if labels.nil? || labels.empty?

        pairs = labels.map do |k, v|
          raise ArgumentError, "bad label name #{k.inspect}" unless LABEL.match?(k.to_s) && !k.to_s.start_with?("__")

          %(#{k}="#{escape_label(v.to_s)}")
        end
        "{#{pairs.join(",")}}"
      end

      def format_value(value)
        case value
        when Integer then value.to_s
        when Float then value.finite? ? value.to_s : nil
        when true then "1"
        when false then "0"
        end
      end

      def escape_help(text) = text.gsub("\\", "\\\\\\\\").gsub("\n", "\\n")

      def escape_label(text) = text.gsub("\\", "\\\\\\\\").gsub("\"", "\\\"").gsub("\n", "\\n")
    end
  end
end
