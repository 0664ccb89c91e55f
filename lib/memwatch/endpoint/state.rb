# frozen_string_literal: true

require "json"

module Memwatch
  module Endpoint
    # Per-app caches that keep the read routes cheap: the status document is rebuilt at
    # most once per STATUS_TTL, and the verdict is the one memwatch's periodic hook made.
    class State
      STATUS_TTL = 1.0 # samples change once per sampler interval, not per request
      VERDICT_TTL = 30.0

      attr_reader :config

      def initialize(config)
        @config = config
        @status = nil
        @verdict = nil
        @verdict_lock = Mutex.new
      end

      # call-seq:
      #   state.status_json -> String
      def status_json
        now = clock
        cached = @status
        return cached[1] if cached && now - cached[0] < STATUS_TTL && cached[2] == Process.pid
        body = "#{JSON.generate(status_document)}\n"
        @status = [now, body, Process.pid].freeze # one reference swap: no lock needed
        body
      end

      def status_document
        {
          memwatch: { version: Memwatch::VERSION, pid: Process.pid, ppid: Process.ppid,
                      ruby: RUBY_VERSION, running: Memwatch.running?, allocator: Source.allocator },
          allocator: Source.allocator_info,
          config: Source.config,
          endpoint: @config.public_h,
          latest: Source.scrub(Source.latest),
          verdict: verdict,
          tracing: Tracing.state,
          time: Time.now.to_f
        }
      end

      # call-seq:
      #   state.verdict -> Hash or nil
      #
      # The latest verdict with its evidence, as plain data; nil when there is none yet.
      # memwatch's periodic hook keeps it (Runner.verdict_data): nothing is classified here.
      # Only without that hook is the classifier run, at most once per VERDICT_TTL.
      def verdict
        return Source.scrub(verdict_h(Memwatch.last_verdict)) if Memwatch.respond_to?(:last_verdict)
        return Source.scrub(Memwatch::Runner.verdict_data) if defined?(Memwatch::Runner.verdict_data)
        cached = @verdict
        return cached[1] if cached && clock - cached[0] < VERDICT_TTL && cached[2] == Process.pid
        refresh_verdict || cached&.at(1)
      end

      private

      def clock = Process.clock_gettime(Process::CLOCK_MONOTONIC)

      # One request classifies; concurrent ones keep serving the previous verdict.
      def refresh_verdict
        return nil unless @verdict_lock.try_lock
        begin
          value = Source.scrub(verdict_h(Memwatch.verdict))
        rescue NameError, NotImplementedError
          value = nil # the classifier is not there (yet)
        rescue StandardError => e
          value = { "kind" => nil, "error" => "#{e.class}: #{e.message}"[0, 200] }
        ensure
          @verdict_lock.unlock
        end
        @verdict = [clock, value, Process.pid].freeze
        value
      end

      def verdict_h(verdict)
        return nil if verdict.nil?
        verdict.respond_to?(:to_h) ? verdict.to_h : { kind: verdict.to_s }
      end
    end
  end
end
