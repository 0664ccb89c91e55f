# frozen_string_literal: true

require "etc"

module Memwatch
  module Endpoint
    # POST routes that change the process: GC, allocator purge, allocation tracing.
    # (The heap dump has its own file.) Each one fills ctx.audit for the audit line.
    module Actions
      PAGE = Etc.sysconf(Etc::SC_PAGESIZE)

      module_function

      # call-seq:
      #   POST /gc?full=1 -> {"gc": {full, seconds, before, after}}
      def gc(ctx)
        full = ctx.params.fetch(:full, true)
        before = counters
        t = clock
        GC.start(full_mark: full, immediate_sweep: true)
        seconds = (clock - t).round(4)
        after = counters
        ctx.audit.merge!(full: full, seconds: seconds)
        Response.json(200, gc: { full: full, seconds: seconds, before: before, after: after })
      end

      # The retention test: does the allocator give memory back to the OS?
      def purge(ctx)
        Source.require!
        raise Refused.new(503, "Memwatch.purge is not available") unless Memwatch.respond_to?(:purge)
        result = Source.scrub(Memwatch.purge)
        ctx.audit.merge!(released_bytes: result["released_bytes"])
        Response.json(200, purge: result)
      end

      def tracing_start(ctx)
        seconds = ctx.params.fetch(:seconds, [60, ctx.config.tracing_max_seconds].min)
        if seconds > ctx.config.tracing_max_seconds
          raise Refused.new(400, "seconds=#{seconds} is above tracing_max_seconds (#{ctx.config.tracing_max_seconds})")
        end
        state = Tracing.start(seconds)
        ctx.audit.merge!(seconds: seconds)
        Response.json(200, tracing: state, cost: Tracing::COST)
      end

      def tracing_stop(ctx)
        stopped = Tracing.stop
        ctx.audit.merge!(was_on: stopped)
        Response.json(200, tracing: Tracing.state, stopped: stopped)
      end

      def counters
        stat = GC.stat
        { count: stat[:count], major_gc_count: stat[:major_gc_count], heap_live_slots: stat[:heap_live_slots],
          old_objects: stat[:old_objects], heap_allocated_pages: stat[:heap_allocated_pages], rss_bytes: rss }
      end

      # statm's second field is resident pages; one small read, no native code needed.
      def rss
        File.read("/proc/self/statm").split[1].to_i * PAGE
      rescue SystemCallError
        nil
      end

      def clock = Process.clock_gettime(Process::CLOCK_MONOTONIC)

      Endpoint.route("POST", "/gc", params: { full: :bool }, title: "run GC.start") { |ctx| gc(ctx) }
      Endpoint.route("POST", "/purge", title: "allocator purge: RSS before/after") { |ctx| purge(ctx) }
      Endpoint.route("POST", "/tracing/start", params: { seconds: 1..86_400 }, feature: :tracing,
                                               title: "allocation tracing on, time-boxed") { |ctx| tracing_start(ctx) }
      Endpoint.route("POST", "/tracing/stop", feature: :tracing, title: "allocation tracing off") { |ctx| tracing_stop(ctx) }
    end
  end
end
