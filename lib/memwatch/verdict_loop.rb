# frozen_string_literal: true

module Memwatch
  # Keeps Memwatch.verdict current: the classifier's Monitor runs on the
  # memwatch-gc thread every verdict_interval, over the rings (the long ring,
  # then the recent one). The Monitor also schedules heap walks (Ruby-owned
  # malloc, in a forked child) and purges (the retention test) when the
  # evidence asks for them, and hands each verdict to the log's columns.
  module VerdictLoop
    @monitor = nil

    class << self
      attr_reader :monitor

      # Called at every start (also in forked children, whose history is new).
      # A child drops the inherited Monitor without stopping it: a heap walk it
      # may be running is the parent's child, not ours to kill.
      def install(config, child: false)
        require_relative "classifier/monitor"
        @monitor&.stop unless child
        classifier = Classifier.new(**config[:classifier])
        @monitor = Classifier::Monitor.new(classifier: classifier, every: config[:verdict_interval],
                                           heap_walk: config[:heap_walk], auto_purge: config[:auto_purge])
        Runner.verdict = nil
        return if @registered

        @registered = true
        Memwatch.on_periodic(every: 1.0) { tick }
      end

      def stop = @monitor&.stop

      # The Monitor decides whether an evaluation is due (cheap otherwise).
      def tick
        return unless @monitor

        verdict = @monitor.tick { |since| Memwatch.samples(since: since, resolution: :all) }
        Runner.verdict = with_suspect_routes(verdict) if verdict
      end

      # A leak verdict names the routes that leave memory behind, when the app
      # uses Memwatch::Attribution.
      def with_suspect_routes(verdict)
        return verdict unless verdict.leak? && !Memwatch.autoload?(:Attribution) && Memwatch::Attribution.active?

        suspects = Memwatch::Attribution.suspects
        return verdict if suspects.empty?

        Verdict.new(kind: verdict.kind, level: verdict.level, confidence: verdict.confidence, rates: verdict.rates,
                    shares: verdict.shares, ranked: verdict.ranked, window: verdict.window, advice: verdict.advice,
                    evidence: verdict.evidence.merge("suspect_routes" => suspects),
                    explanation: "#{verdict.explanation} #{Memwatch::Attribution.explain}",
                    next_step: verdict.next_step)
      end

      # A verdict now, for Memwatch.verdict before the first periodic run.
      def evaluate_now(config)
        require_relative "classifier"
        Classifier.new(**(config ? config[:classifier] : {})).classify(Memwatch.samples(resolution: :all),
                                                                        purges: Memwatch.purges)
      end
    end
  end
end
