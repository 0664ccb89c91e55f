# frozen_string_literal: true

$LOAD_PATH.unshift(File.expand_path("../../../lib", __dir__))
require "memwatch/log_reader"
require "memwatch/classifier"
require "memwatch/classifier/monitor"

module LeakLab
  # Classifies each serving process's memwatch log the way a user would (the
  # classifier over the log, default options unless told otherwise), at the
  # end and at checkpoints along the run, and compares with the scenario's
  # expectation: the right kind, a growth level for leaks and never one for
  # steady apps, and evidence naming the series that really moved.
  class Judge
    # One process's outcome. +timeline+: [[seconds since its first sample, kind, level], ...].
    # +logged+: the last verdict the app's own periodic classifier wrote to its log.
    Outcome = Struct.new(:pid, :verdict, :timeline, :first_right, :false_alarms, :problems, :logged,
                         keyword_init: true) do
      def pass?
        problems.empty?
      end
    end

    # call-seq: Judge.new(scenario, classifier_options: {}, step: 30)
    def initialize(scenario, classifier_options: {}, step: 30)
      @scenario = scenario
      @classifier = Memwatch::Classifier.new(**classifier_options)
      @step = step
    end

    # call-seq: judge(log_path) -> Outcome
    def judge(pid, log_path)
      return Outcome.new(pid: pid, timeline: [], false_alarms: [], problems: ["no memwatch log"]) unless log_path

      rows = Memwatch::LogReader.read(log_path)
      timeline, verdict = checkpoints(rows)
      Outcome.new(pid: pid, verdict: verdict, timeline: timeline, first_right: first_right(timeline),
                  false_alarms: wrong_claims(timeline), problems: problems(verdict, timeline),
                  logged: rows.reverse_each.find { |r| r[:verdict] }&.fetch(:verdict))
    end

    private

    # Replays the log through the classifier's Monitor, evaluated every
    # +step+ seconds as the app's periodic loop does, so the verdicts are
    # the ones a user would have seen, hysteresis (the Monitor's hold)
    # included. Returns [timeline, final verdict].
    def checkpoints(rows)
      t0 = rows.first&.fetch(:tick) or return [[], @classifier.classify(rows)]
      now = 0.0
      monitor = Memwatch::Classifier::Monitor.new(classifier: @classifier, heap_walk: false, auto_purge: false,
                                                  notifier: ->(_) {}, purges: -> { [] }, clock: -> { now })
      span = rows.last[:tick] - t0
      timeline = (@step..span.floor).step(@step).map do |t|
        now = t.to_f
        v = monitor.evaluate(rows.take_while { |r| r[:tick] - t0 <= t })
        [t, v.kind, v.level]
      end
      now = span
      [timeline, monitor.evaluate(rows)]
    end

    def right?(kind, level)
      none? ? @scenario.accepts?(kind) && level.nil? : @scenario.accepts?(kind) && !level.nil?
    end

    def none?
      @scenario.expect == "none"
    end

    def first_right(timeline)
      timeline.find { |_, kind, level| right?(kind, level) }&.first
    end

    # Checkpoints that claimed a leak of the wrong kind (or any leak when none is due).
    def wrong_claims(timeline)
      timeline.select do |_, kind, level|
        claimed = !level.nil? && Memwatch::Verdict::LEAK_KINDS.include?(kind)
        claimed && (none? || !@scenario.accepts?(kind))
      end
    end

    def problems(verdict, timeline)
      out = []
      out << "verdict #{verdict.kind}#{" (#{verdict.level})" if verdict.level}, expected #{@scenario.expect}" unless right?(verdict.kind, verdict.level)
      out << "claimed a leak at #{wrong_claims(timeline).map(&:first).join(', ')} s" if none? && wrong_claims(timeline).any?
      out.concat(missing_evidence(verdict)) unless none?
      out
    end

    # Each catalog evidence group ("a|b") must appear among the series the
    # verdict's evidence says moved, or among its ranked causes.
    def missing_evidence(verdict)
      named = Array(verdict.evidence["moved"]) + verdict.ranked.map { |r| r["kind"] }
      @scenario.evidence.reject { |group| (group.split("|") & named).any? }
                        .map { |group| "evidence lacks #{group}" }
    end
  end
end
