# frozen_string_literal: true

require "fileutils"
require "json"
require "time"
require_relative "../heap"

module Memwatch
  module Endpoint
    # The three-dump diff done by the worker itself, for users who cannot run the CLI next
    # to the app: POST /heap_capture starts it and answers 202 at once; GET /heap_capture
    # says how far it got and, once done, holds the diff report (the retained set by
    # allocation site). A background thread turns allocation tracing on (when the app
    # allows it), takes dumps A, B and C +every+ seconds apart, each in a forked child like
    # POST /heap_dump (under the same one-dump-per-host lock), diffs them (in C, without the
    # GVL) and deletes them: they hold every string of the process, so only the report —
    # file:line, class, counts and bytes — outlives the job.
    class HeapCapture
      PARAMS = { every: 1..3600, trace: :bool, top: 1..200 }.freeze
      LOCK_TRIES = 10 # a dump of someone else's in progress is waited out, this many times

      @lock = Mutex.new
      @job = nil

      class << self
        # call-seq: POST /heap_capture?every=60&trace=1&top=20 -> 202 {"capture": state}
        def start(ctx)
          job = @lock.synchronize do
            raise Refused.new(409, "a heap capture is already running in this process") if @job&.running?
            @job = new(ctx.config, ctx.params, ctx.request.env)
          end
          job.launch
          ctx.audit.merge!(id: job.id, every: job.every, trace: job.trace)
          Response.json(202, capture: job.state)
        end

        # call-seq: GET /heap_capture -> 200 {"capture": state} | 404
        def status(_ctx)
          job = @lock.synchronize { @job }
          raise Refused.new(404, "no heap capture has run in this process (POST heap_capture)") unless job&.here?
          Response.json(200, capture: job.state)
        end
      end

      attr_reader :id, :every, :trace

      def initialize(config, params, env)
        @config = config
        @every = params.fetch(:every, 60)
        @trace = params.fetch(:trace, true) && config.tracing?
        @top = params.fetch(:top, 20)
        @env = env.select { |k, _| k == "HTTP_AUTHORIZATION" } # what DumpChild redacts
        @id = HeapDump.dump_id
        @pid = Process.pid
        @state = { id: @id, status: "running", step: "starting", every_seconds: @every, tracing: @trace,
                   dumps_taken: 0, started_at: Time.now.utc.iso8601(3) }
        check_cooldown
      end

      def launch
        @thread = Thread.new do
          Thread.current.name = "memwatch-capture"
          Thread.current.report_on_exception = false
          run
        end
      end

      def running? = here? && @state[:status] == "running"
      def here? = @pid == Process.pid
      def state = @state.dup

      private

      # The first dump obeys dump_cooldown as POST /heap_dump does, and says so at once.
      def check_cooldown
        DumpLock.acquire(@config.dump_dir, @config.dump_cooldown).release(ran: false)
      end

      def run
        dir = File.join(@config.dump_dir, "capture-#{@id}")
        Dir.mkdir(dir, 0o700)
        traced = @trace && start_tracing
        paths = %w[a b c].each_with_index.map do |name, i|
          if i.positive?
            step("waiting #{@every} s before dump #{name}")
            sleep(@every)
          end
          take(name, dir)
        end
        step("diffing the three dumps")
        report = Memwatch::Heap.diff(*paths).to_h(top: @top)
        report[:paths] = %w[a b c] # the files are gone: their names would mislead
        finish("done", report: report)
      rescue StandardError, ScriptError => e
        finish("failed", error: e.is_a?(Refused) ? "#{e.status}: #{e.message}" : "#{e.class}: #{e.message}")
      ensure
        Tracing.stop if traced
        FileUtils.rm_rf(dir) if dir
      end

      def start_tracing
        Tracing.start([@every * 2 + 60, @config.tracing_max_seconds].min) # stops by itself even if this thread dies
        true
      end

      def take(name, dir)
        step("taking dump #{name}")
        lock = acquire_lock
        begin
          job = DumpJob.new(@config, { gzip: true, gc: true, since: nil }, @env)
          generation = GC.count # as POST /heap_dump's manifest: the diff's thresholds
          io, _bytes = job.run("#{@id}-#{name}")
          path = File.join(dir, "#{name}.json.gz")
          File.open(path, File::WRONLY | File::CREAT | File::EXCL, 0o600) { |f| IO.copy_stream(io, f) }
          Memwatch::Heap::Manifest.write(path, JSON.generate(generation: generation))
        ensure
          io&.close # also when copying failed (a full dump_dir)
          lock.release(ran: true)
        end
        @state[:dumps_taken] += 1
        path
      end

      # Between this capture's own dumps there is no cooldown: the series is one request.
      def acquire_lock(tries = LOCK_TRIES)
        DumpLock.acquire(@config.dump_dir, 0)
      rescue Refused => e
        raise unless e.status == 429 && tries > 1
        sleep(DumpLock::BUSY_RETRY)
        acquire_lock(tries - 1)
      end

      def step(text)
        @state[:step] = text
      end

      def finish(status, **rest)
        @state = @state.merge(status: status, step: status, finished_at: Time.now.utc.iso8601(3), **rest)
      end

      Endpoint.route("POST", "/heap_capture", params: PARAMS, feature: :dumps,
                                              title: "three dumps, every s apart, diffed: the retained set") { |ctx| start(ctx) }
      Endpoint.route("GET", "/heap_capture", feature: :dumps, title: "the heap capture's progress and report") { |ctx| status(ctx) }
    end
  end
end
