# frozen_string_literal: true

module Memwatch
  # The Ruby half of the sampler: the "memwatch-gc" thread and periodic work.
  #
  # The native pthread cannot call Ruby, and a GC event hook would slow every
  # object allocation (DESIGN.md). So this one Ruby thread sleeps *without the
  # GVL* inside Sampler#_await_tick; at each tick the pthread wakes it, it copies
  # the GC.stat counters into C (no allocation) and goes back to sleep. Every
  # verdict_interval it also runs the periodic callbacks (classifier, heap-walk
  # policy, cluster publishing) and turns sampler errors into warnings.
  module Runner
    @callbacks = []
    @thread = nil
    @warned = nil
    @verdict = nil

    class << self
      attr_reader :thread

      # call-seq: Memwatch::Runner.on_periodic { |config| ... } -> block
      #
      # Registers work to run every verdict_interval on the memwatch-gc thread.
      # Keep it short (it holds the GVL); exceptions become warnings.
      def on_periodic(&block)
        @callbacks << block
        block
      end

      def start(sampler, config)
        @config = config
        @thread = Thread.new(sampler) do |s|
          Thread.current.name = "memwatch-gc"
          Thread.current.report_on_exception = false
          while (due = s._await_tick)
            periodic if due == :periodic
          end
        end
      end

      def stop(sampler)
        sampler._stop
        @thread&.join(2) # it leaves _await_tick as soon as the sampler stops
        @thread = nil
      end

      # The latest verdict as plain data (for snapshots and the endpoint).
      def verdict_data = @verdict&.then { |v| v.respond_to?(:to_h) ? v.to_h : v }

      # Set by the classifier's periodic callback.
      attr_writer :verdict
      attr_reader :verdict

      # Runs every callback now (also used by tests to avoid waiting).
      def periodic
        report_errors
        @callbacks.each do |cb|
          cb.call(@config)
        rescue StandardError => e
          warn "memwatch: periodic task failed: #{e.class}: #{e.message}"
        end
      end

      private

      # Errors on the pthread (an unwritable log, a vanished /proc file) are
      # stored in C; say each new one once, and keep sampling.
      def report_errors
        stats = Memwatch.stats
        return if stats[:last_error].nil? || stats[:last_error] == @warned

        @warned = stats[:last_error]
        warn "memwatch: #{stats[:last_error]} (#{stats[:errors]} errors so far); sampling continues"
      end
    end
  end

  # call-seq: Memwatch.on_periodic { |config| ... }
  def self.on_periodic(&block) = Runner.on_periodic(&block)
end
