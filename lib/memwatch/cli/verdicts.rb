# frozen_string_literal: true

require "memwatch/cli"
require "memwatch/cli/format"

module Memwatch
  module CLI
    # Verdicts for the CLI: the classifier's when it is installed, else the last verdict the
    # process itself logged, else none. Also maps verdict kinds to exit codes.
    module Verdicts
      # Stands in for Memwatch::Verdict when only a kind is known (a logged or remote verdict).
      Known = Struct.new(:kind, :source, :exit_code) do
        def to_s
          source.start_with?(kind) ? source : "#{kind} (#{source})"
        end

        def to_h
          { kind: kind, source: source, exit_code: exit_code }
        end
      end

      NOT_LEAKS = %w[none retention plateau warmup warm_up].freeze # as Verdict#leak?

      module_function

      # call-seq:
      #   Verdicts.classify(samples, opts) -> Memwatch::Verdict, Known, or nil
      #
      # Raises CLI::UsageError when the classifier rejects +opts+.
      def classify(samples, opts = {})
        classifier = load_classifier
        return logged(samples) unless classifier

        instance = begin
          classifier.new(**opts)
        rescue ArgumentError, TypeError => e
          raise UsageError, "classifier option: #{e.message}"
        end
        instance.classify(samples)
      end

      # call-seq:
      #   Verdicts.headline(verdict) -> String
      #
      # The verdict's first line, without the "memwatch verdict:" prefix.
      def headline(verdict)
        verdict.to_s.lines.first.to_s.sub(/\Amemwatch verdict:\s*/, "").strip
      end

      # call-seq:
      #   Verdicts.details(verdict) -> Array of String
      def details(verdict)
        verdict.to_s.lines.drop(1).map(&:rstrip).reject(&:empty?)
      end

      # call-seq:
      #   Verdicts.exit_code_for(kind) -> Integer
      def exit_code_for(kind)
        case kind.to_s
        when "insufficient_data", "" then INSUFFICIENT
        when *NOT_LEAKS then OK
        else LEAK
        end
      end

      def logged(samples)
        row = samples.reverse_each.find { |s| s[:verdict] }
        return nil unless row

        Known.new(row[:verdict], "logged by the process at #{Format.time(row[:tick])}", exit_code_for(row[:verdict]))
      end

      # The classifier is another part of the gem; an installation without it still
      # summarises logs.
      def load_classifier
        require "memwatch/classifier"
        Memwatch.const_defined?(:Classifier) ? Memwatch::Classifier : nil
      rescue LoadError => e
        raise unless e.message.include?("memwatch/classifier")

        nil
      end
    end
  end
end
