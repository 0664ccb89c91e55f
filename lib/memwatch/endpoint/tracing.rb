# frozen_string_literal: true

require "objspace"

module Memwatch
  module Endpoint
    # Time-boxed ObjectSpace allocation tracing for the whole process. While it is on, heap
    # dumps carry each object's file, line, method and generation, and <tt>since=</tt> dumps
    # work. A watcher thread (alive only while tracing) turns it off at the deadline.
    module Tracing
      COST = "allocation tracing hooks every object allocation and free: allocation-heavy " \
             "code ran 6-14x slower while it was on (measured on Ruby 3.1), and each live " \
             "object costs extra memory; it stops by itself at the deadline"

      @lock = Mutex.new
      @wake = ConditionVariable.new
      @active = false
      @pid = nil

      class << self
        # call-seq:
        #   Tracing.start(seconds) -> state Hash
        #
        # Starts tracing, or moves the deadline of the tracing already on.
        def start(seconds)
          @lock.synchronize do
            unless active_here?
              pause_auto_compact
              ObjectSpace.trace_object_allocations_start
              @active = true
              @pid = Process.pid
              @started_at = Time.now.to_f
              @generation = GC.count
              @thread = Thread.new { watch }.tap { |t| t.name = "memwatch-tracing" }
            end
            @deadline = clock + seconds
            @wake.broadcast
          end
          state
        end

        # call-seq:
        #   Tracing.stop -> true if tracing was on
        def stop
          @lock.synchronize { stop_locked }
        end

        # {active:, started_at:, stops_in_seconds:, generation:, auto_compact_paused:}.
        def state
          active = active_here?
          { active: active, started_at: @started_at, generation: @generation,
            stops_in_seconds: active ? [(@deadline - clock).round(1), 0].max : nil,
            auto_compact_paused: active && @compact_paused ? true : false }
        end

        # The GC generation tracing started at in this process, or nil if it never ran.
        def generation = @pid == Process.pid ? @generation : nil

        private

        def clock = Process.clock_gettime(Process::CLOCK_MONOTONIC)

        # A forked child inherits the flag but not the watcher thread: it is not "ours".
        def active_here? = @active && @pid == Process.pid

        # Compaction moves objects and (Ruby 3.1, verified) their allocation info is lost:
        # while tracing, automatic compaction is off, and back on when tracing stops.
        def pause_auto_compact
          @compact_paused = GC.respond_to?(:auto_compact) && GC.auto_compact ? true : false
          GC.auto_compact = false if @compact_paused
        end

        def stop_locked
          return false unless active_here?
          ObjectSpace.trace_object_allocations_stop
          GC.auto_compact = true if @compact_paused
          @compact_paused = false
          @active = false
          @wake.broadcast
          true
        end

        def watch
          @lock.synchronize do
            while active_here?
              remaining = @deadline - clock
              break stop_locked if remaining <= 0
              @wake.wait(@lock, remaining)
            end
          end
        end
      end
    end
  end
end
