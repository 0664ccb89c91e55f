# frozen_string_literal: true

require_relative "../classifier"
require_relative "../heap_walk"

module Memwatch
  class Classifier
    # The classifier's one entry point for the periodic hook: decides
    # cheaply whether to re-evaluate, runs the classifier, and acts on its
    # advice — a heap walk in a forked child when Ruby-owned vs native malloc
    # is in question, an allocator purge when retention vs fragmentation is.
    #
    #   monitor = Memwatch::Classifier::Monitor.new
    #   Memwatch.on_periodic do
    #     monitor.tick { |since| Memwatch.samples(resolution: :all, since: since) }
    #   end
    #
    # Not thread-safe: call it from one thread (the memwatch-gc thread).
    class Monitor
      DEFAULTS = {
        every: 15,                        # seconds between evaluations
        heap_walk: true,                  # false: never fork to walk the heap
        heap_walk_interval: 1800,         # a routine walk at most this often
        heap_walk_suspect_interval: 60,   # ...and this often while the allocator grows fast
        heap_walk_timeout: 120,           # a walk that takes longer is killed
        auto_purge: true,                 # purge when the allocator's unused memory grows
        purge_interval: 1800,             # at most this often
        hold: 300                         # a leak verdict stands this long through evaluations
                                          # that cannot judge (insufficient_data)
      }.freeze

      attr_reader :verdict, :options, :walker

      # call-seq:
      #   Monitor.new(classifier: Classifier.new, purger: nil, purges: nil,
      #               notifier: nil, walker: nil, clock: nil, **options) -> monitor
      #
      # +purger+ runs a purge and returns its result Hash (default
      # Memwatch.purge when available); +purges+ returns recent purge results
      # (default Memwatch.purges, unless a +purger+ is given: then the monitor
      # keeps its results); +notifier+ receives each verdict (default:
      # the sampler's _set_verdict, so the log gets verdict columns).
      def initialize(classifier: Classifier.new, purger: nil, purges: nil, notifier: nil, walker: nil,
                     clock: nil, **options)
        unknown = options.keys - DEFAULTS.keys
        raise ArgumentError, "unknown monitor option(s): #{unknown.join(', ')}" unless unknown.empty?

        @options = DEFAULTS.merge(options).freeze
        @classifier = classifier
        # Memwatch.purge records its results in Memwatch.purges; a purger of
        # the caller's own is remembered here instead.
        @purge_source = purges || (purger ? nil : memwatch_method(:purges))
        @purger = purger || memwatch_method(:purge)
        @notifier = notifier || method(:notify_native)
        @walker = walker || HeapWalk.new(timeout: @options[:heap_walk_timeout])
        @clock = clock || -> { Process.clock_gettime(Process::CLOCK_MONOTONIC) }
        @own_purges = []
        @last_eval = @last_walk = @last_purge = nil
      end

      # call-seq:
      #   monitor.tick(samples) -> Verdict or nil
      #   monitor.tick { |since| samples } -> Verdict or nil
      #
      # Polls a running heap walk (cheap) and, when +every+ seconds have
      # passed, classifies the samples and returns the new verdict; nil when
      # it was not due. The block is only called then, with the epoch time
      # before which the classifier ignores samples (pass it to
      # Memwatch.samples(since:) so older rows are not even copied).
      def tick(samples = nil)
        @walker.poll
        return nil if @last_eval && @clock.call - @last_eval < @options[:every]
        raise ArgumentError, "tick needs samples or a block that returns them" unless samples || block_given?

        evaluate(samples || yield(Time.now.to_f - @classifier.horizon))
      end

      # call-seq:
      #   monitor.evaluate(samples) -> Verdict
      #
      # Classifies now, whatever the cadence, and acts on the advice.
      def evaluate(samples)
        @last_eval = @clock.call
        @verdict = hold(@classifier.classify(samples, purges: purges))
        act(@verdict)
        @notifier&.call(@verdict)
        @verdict
      end

      # call-seq:
      #   monitor.record_purge(result) -> result
      #
      # Remembers a purge that ran elsewhere (when no +purges+ source).
      def record_purge(result)
        @own_purges << result
        @own_purges.shift while @own_purges.size > 20
        result
      end

      # call-seq:
      #   monitor.purges -> Array of purge results (as the classifier takes them)
      def purges
        external = @purge_source ? Array(@purge_source.call) : []
        (external + @own_purges).uniq { |p| [p[:tick], p[:released_bytes]] }
      end

      # call-seq:
      #   monitor.stop -> nil
      #
      # Stops a running heap walk (call when sampling stops).
      def stop
        @walker.abort("memwatch stopped")
      end

      private

      # Hysteresis. Heap pages grow x1.8 at a time, so over a few minutes a
      # steady Ruby leak moves RSS in steps and one evaluation in several may
      # fail the "steady rise" test and say insufficient_data. A leak verdict
      # therefore stands through such evaluations for +hold+ seconds after
      # its last confirmation (marked as held, with the latest kind in the
      # evidence); a "none" or another leak kind replaces it at once.
      def hold(fresh)
        now = @clock.call
        if fresh.leak?
          @held = [fresh, now]
          return fresh
        end
        held, at = @held
        return (@held = nil) || fresh unless held && fresh.kind == "insufficient_data" && now - at <= @options[:hold]

        Verdict.new(kind: held.kind, level: held.level, confidence: held.confidence, rates: fresh.rates,
                    shares: held.shares, ranked: held.ranked, window: fresh.window, advice: held.advice,
                    evidence: held.evidence.merge("held" => true, "held_seconds" => (now - at).round,
                                                  "latest" => fresh.kind),
                    explanation: "#{held.explanation} (Held: the latest evaluation could not judge; " \
                                 "this verdict was last supported #{(now - at).round} s ago.)",
                    next_step: held.next_step)
      end

      def act(verdict)
        walk if @options[:heap_walk]
        purge if @options[:auto_purge] && verdict.advice[:purge]
      end

      # A walk is due every heap_walk_interval, or every
      # heap_walk_suspect_interval while the verdict asks for one.
      def walk
        return if @walker.running?

        gap = @verdict.advice[:heap_walk] ? @options[:heap_walk_suspect_interval] : @options[:heap_walk_interval]
        return if @last_walk && @clock.call - @last_walk < gap

        @last_walk = @clock.call
        @walker.start
      end

      def purge
        return unless @purger
        return if @last_purge && @clock.call - @last_purge < @options[:purge_interval]

        @last_purge = @clock.call
        result = @purger.call
        record_purge(result) unless @purge_source
      end

      def memwatch_method(name)
        return nil unless defined?(Memwatch::Native) && Memwatch.respond_to?(name)

        Memwatch.method(name)
      end

      # The log's verdict columns: the kind, and the RSS growth rate only when
      # the verdict claims a leak (so a logged rate means "leak").
      def notify_native(verdict)
        return unless defined?(Memwatch::Native) && Memwatch.respond_to?(:running?) && Memwatch.running?

        rate = verdict.leak? ? verdict.rss_rate : nil
        target = if Memwatch::Native.respond_to?(:_set_verdict) then Memwatch::Native
                 elsif Memwatch.respond_to?(:sampler, true) then Memwatch.__send__(:sampler)
                 end
        target._set_verdict(verdict.kind, rate) if target.respond_to?(:_set_verdict)
      end
    end
  end
end
