# frozen_string_literal: true

require_relative "probe"

module Memwatch
  class Attribution
    # Per-request bookkeeping, process-wide and thread-safe; O(1) per request.
    #
    # Allocations: GC.stat(:total_allocated_objects) is global, so the objects
    # allocated between two request boundaries (a start or an end of any request) are
    # split equally among the requests in flight then. A running sum of "allocations
    # per in-flight request" makes that O(1): a request's share is the sum at its end
    # minus the sum at its start. The part allocated while it ran alone is kept too:
    # its ratio is how much of the figure is measured rather than shared.
    #
    # Retained growth cannot be seen per request (objects turn old three GCs later,
    # malloc is freed at sweeps), so requests are also counted per route in intervals
    # of about +interval+ seconds, each closed with a Probe reading; Ranking regresses
    # the growth between readings on those counts.
    class Recorder
      # +seen+ counts every request; +requests+ the measured ones (allocations, time),
      # which are 1 in sample_every when sampling.
      Route = Struct.new(:key, :requests, :allocated, :solo, :seconds, :seen)
      OTHER = "(other)"
      COUNT_ONLY = [].freeze # the token of a request that is counted, not measured
      MARGIN = 0.02 # seconds after a sampler tick before the interval closes on it
      # sample_every: :auto measures about this many requests a second per process (the
      # others are only counted): enough for per-request allocation figures, while the
      # regression of retained growth always has the exact counts.
      AUTO_RATE = 100.0
      AUTO_MAX = 1000

      attr_reader :interval, :window, :max_routes, :intervals, :errors, :pid, :started

      # The rate in force now: record 1 request in N (chosen per interval with :auto).
      attr_reader :sample_every

      def initialize(interval: 1.0, window: 900.0, max_routes: 100, sample_every: :auto)
        @interval = interval
        @window = window
        @max_routes = max_routes
        @auto = sample_every == :auto
        @sample_every = @auto ? 1 : sample_every
        @lock = Mutex.new
        @probe = Probe.new
        reset
      end

      # Forgets everything.
      def reset
        @lock.synchronize { reset_state }
      end

      # In a forked child (from Process._fork): the parent's counts are not ours, and
      # the lock may have been held by a thread that does not exist here.
      def reset_after_fork
        @lock = Mutex.new
        reset_state
      end

      # call-seq:
      #   recorder.enter -> token (pass it to #leave)
      #
      # With sampling, a request not measured only gets counted at #leave (the counts
      # feed the regression of retained growth, and sampled counts would bias it: noise
      # in a regressor shrinks its slope). It is chosen at random, not every Nth, so a
      # load that cycles through routes cannot alias with N. (@seen may miss a count
      # when threads race: it only sets the :auto rate.)
      def enter
        @seen += 1
        n = @sample_every
        return COUNT_ONLY if n > 1 && rand(n) != 0

        alloc = GC.stat(:total_allocated_objects)
        @lock.lock
        begin
          boundary(alloc)
          @inflight += 1
          [@share, @solo_share, Process.clock_gettime(Process::CLOCK_MONOTONIC), @generation]
        ensure
          @lock.unlock
        end
      end

      # call-seq:
      #   recorder.leave(token, key) -> nil
      #
      # No getpid per request (a syscall): a fork is noticed when the next interval
      # closes, which starts afresh in the child.
      def leave(token, key)
        return unless token
        return record(Process.clock_gettime(Process::CLOCK_MONOTONIC)) { tally(route(key)) } if token.equal?(COUNT_ONLY)

        alloc = GC.stat(:total_allocated_objects)
        now = Process.clock_gettime(Process::CLOCK_MONOTONIC)
        record(now) do
          next false unless token[3] == @generation # begun before a reset

          boundary(alloc)
          @inflight -= 1
          account(route(key), token, now)
        end
      end

      # call-seq:
      #   recorder.active? -> true when a request was recorded in this process
      def active? = @pid == Process.pid && !@routes.empty?

      # Counts a key-extractor failure (the request itself is not affected).
      def error!(message)
        @lock.synchronize { @errors[message] = (@errors[message] || 0) + 1 if @errors.size < 20 || @errors.key?(message) }
      end

      # call-seq:
      #   recorder.snapshot -> [routes (Array of Route copies), intervals (Array)]
      #
      # Closes the running interval first when it is older than +interval+, so an idle
      # process still reports what happened.
      def snapshot
        now = Process.clock_gettime(Process::CLOCK_MONOTONIC)
        due = @lock.synchronize { now >= @next_close && @counts.any? && take_interval(now) }
        close_interval(*due) if due
        @lock.synchronize { [@routes.values.map(&:dup), @intervals.dup] }
      end

      private

      def reset_state
        @generation = (@generation || 0) + 1
        @pid = Process.pid
        @started = Time.now.to_f
        @seen = 0
        @seen_mark = [0, Process.clock_gettime(Process::CLOCK_MONOTONIC)]
        @inflight = 0
        @share = 0.0
        @solo_share = 0
        @last_alloc = GC.stat(:total_allocated_objects)
        @routes = {}
        @errors = {}
        @counts = {}
        @intervals = []
        @opened = @probe.read
        @next_close = @opened[0] + delay(@opened)
      end

      def boundary(alloc)
        delta = alloc - @last_alloc
        @last_alloc = alloc
        return if @inflight.zero? || delta <= 0

        @share += delta.fdiv(@inflight)
        @solo_share += delta if @inflight == 1
      end

      def route(key)
        @routes[key] || (@routes.size < @max_routes ? (@routes[key] = Route.new(key, 0, 0.0, 0, 0.0, 0)) : other)
      end

      def other = (@routes[OTHER] ||= Route.new(OTHER, 0, 0.0, 0, 0.0, 0))

      def account(route, token, now)
        route.requests += 1
        route.allocated += @share - token[0]
        route.solo += @solo_share - token[1]
        route.seconds += now - token[2]
        tally(route)
      end

      def tally(route)
        route.seen += 1
        @counts[route.key] = (@counts[route.key] || 0) + 1
      end

      # Runs the bookkeeping under the lock (false: nothing recorded), then closes the
      # interval when one is due, outside the lock.
      def record(now)
        @lock.lock
        begin
          due = yield != false && now >= @next_close && take_interval(now)
        ensure
          @lock.unlock
        end
        close_interval(*due) if due
        nil
      end

      # With :auto, the next interval's N from this one's request rate (all requests).
      def adapt(now)
        seen, since = @seen_mark
        @seen_mark = [@seen, now]
        return unless @auto && now > since

        rate = (@seen - seen) / (now - since)
        @sample_every = (rate / AUTO_RATE).floor.clamp(1, AUTO_MAX)
      end

      # Seconds until the next interval should close. With the sampler running, just
      # after the first tick at least +interval+ from now, so that the tick's allocator
      # reading lines up with the counts (ticks come on a fixed grid; no polling).
      def delay(reading)
        tick = @probe.last_tick_epoch or return @interval
        step = @probe.sampler_interval
        wall = Time.now.to_f
        target = wall + @interval * 0.9
        ticks = ((target - tick) / step).ceil.clamp(1, 1_000_000)
        (tick + ticks * step + MARGIN - wall).clamp(@interval * 0.5, @interval * 2)
      end

      # Under the lock: hands the counts over and starts a new interval.
      def take_interval(now)
        counts = @counts
        used = @sample_every
        @counts = {}
        adapt(now)
        @next_close = now + @interval # until close_interval sets it from the tick grid
        [counts, used]
      end

      # Outside the lock: the probe costs a few µs and must not hold up other threads.
      def close_interval(counts, used)
        return reset unless @pid == Process.pid # copied by a fork: not this process's

        reading = @probe.read
        wait = delay(reading)
        @lock.synchronize do
          @intervals << [@opened, reading, counts, used]
          @opened = reading
          @next_close = reading[0] + wait
          @intervals.shift while @intervals.size > 1 && reading[0] - @intervals[0][0][0] > @window
        end
      end
    end
  end
end
