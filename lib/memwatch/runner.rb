# frozen_string_literal: true

module Memwatch
  # The Ruby half of the sampler: the "memwatch-gc" thread and periodic work.
  #
  # The native pthread cannot call Ruby, and a GC event hook would slow every
  # object allocation (DESIGN.md). So this one Ruby thread sleeps *without the
  # GVL* inside Sampler#_await_tick; at each tick the pthread wakes it, it copies
  # the GC.stat counters into C (no allocation) and goes back to sleep. After
  # each copy it runs the periodic callbacks that are due (classifier, heap-walk
  # policy, cluster publishing; each has its own cadence) and turns sampler
  # errors into warnings. Checking what is due costs one clock read per tick.
  module Runner
    Callback = Struct.new(:block, :every, :due)
    @callbacks = []
    @thread = nil
    @warned = nil
    @verdict = nil

    class << self
      attr_reader :thread

      # call-seq: Memwatch::Runner.on_periodic(every: nil) { |config| ... } -> block
      #
      # Registers work to run on the memwatch-gc thread every +every+ seconds
      # (default: the verdict_interval option), at most once per tick. Keep it
      # short (it holds the GVL); exceptions become warnings.
      def on_periodic(every: nil, &block)
        raise ArgumentError, "memwatch: on_periodic needs a block" unless block
        raise ArgumentError, "memwatch: every must be a positive number of seconds" if every && !(every.is_a?(Numeric) && every.positive?)

        @callbacks << Callback.new(block, every, 0.0)
        block
      end

      def start(sampler, config)
        @config = config
        @thread = Thread.new(sampler) do |s|
          Thread.current.name = "memwatch-gc"
          Thread.current.report_on_exception = false
          while s._await_tick
            run_due
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

      # Runs every callback now, due or not (tests use it to avoid waiting).
      def periodic
        report_errors
        @callbacks.each { |cb| call(cb, now) }
      end

      private

      def now = Process.clock_gettime(Process::CLOCK_MONOTONIC)

      def run_due
        t = now
        due = @callbacks.select { |cb| t >= cb.due }
        return if due.empty?

        report_errors
        due.each { |cb| call(cb, t) }
      end

      def call(callback, time)
        callback.due = time + (callback.every || @config&.[](:verdict_interval) || 60.0)
        callback.block.call(@config)
      rescue StandardError => e
        warn "memwatch: periodic task failed: #{e.class}: #{e.message}"
      end

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

  # call-seq: Memwatch.on_periodic(every: nil) { |config| ... }
  def self.on_periodic(every: nil, &block) = Runner.on_periodic(every: every, &block)
end
