# frozen_string_literal: true

# Defined here first: lib/memwatch.rb autoloads this file, and a part opening the
# class before this file does would re-enter the autoload (a circular require).
module Memwatch
  class Attribution
  end
end

require_relative "attribution/route_key"
require_relative "attribution/recorder"
require_relative "attribution/nnls"
require_relative "attribution/ranking"
require_relative "attribution_log"
require_relative "attribution/html"

module Memwatch
  # Which endpoint makes the process grow: a Rack middleware that counts requests per
  # route, with the objects each allocated, and ranks routes by the memory they leave
  # behind. Put it first (outermost) so it sees every request:
  #
  #   use Memwatch::Attribution                         # config.ru
  #   config.middleware.insert(0, Memwatch::Attribution)  # Rails
  #
  # Per request it costs two GC.stat reads, a clock read and a mutex (about 2 µs);
  # nothing is hooked into the GC. See Recorder for what is measured per request and
  # Ranking for how retained growth is attributed when requests overlap.
  class Attribution
    DEFAULTS = { interval: 1.0, window: 900.0, max_routes: 100, sample_every: :auto }.freeze
    REPORT_TTL = 2.0 # the fit takes a few ms to tens of ms: not once per poll

    @recorder = nil
    @lock = Mutex.new

    class << self
      # call-seq:
      #   Memwatch::Attribution.recorder -> Recorder (created on first use)
      def recorder = @recorder || configure

      # call-seq:
      #   Memwatch::Attribution.configure(interval: 1.0, window: 900.0, max_routes: 100, sample_every: :auto) -> Recorder
      #
      # Replaces the process-wide recorder (forgetting what was recorded).
      # +interval+: seconds per counting interval; +window+: seconds of intervals kept
      # for the ranking; +max_routes+: distinct keys before the rest count as
      # "(other)"; +sample_every+: record 1 request in N, at random (1 = all; :auto, the
      # default, chooses N each interval so that ~100 requests a second are recorded).
      def configure(**options)
        opts = DEFAULTS.merge(options)
        check(opts)
        @report = nil
        @lock.synchronize { @recorder = Recorder.new(**opts) }
      end

      # call-seq:
      #   Memwatch::Attribution.report -> Hash (JSON-friendly; string keys)
      #
      # The ranking: routes by retained bytes per request and in total, with request
      # counts, allocations per request, standard errors and a confidence word.
      # Cached for REPORT_TTL seconds and frozen (merge to add to it).
      def report
        cached = @report
        now = Process.clock_gettime(Process::CLOCK_MONOTONIC)
        return cached[1] if cached && now - cached[0] < REPORT_TTL && cached[2].equal?(recorder)

        value = Ranking.new(*recorder.snapshot, recorder).to_h.freeze
        @report = [now, value, recorder].freeze # one reference swap: no lock needed
        value
      end

      # call-seq:
      #   Memwatch::Attribution.install_log_writer -> true | false
      #
      # Once a minute, the ranking goes to the attribution log beside the
      # sample log (see AttributionLog). Called when this file loads and when
      # the middleware is built, since either may come before memwatch.rb
      # (which provides on_periodic); registers once.
      def install_log_writer
        return true if @log_writer
        return false unless Memwatch.respond_to?(:on_periodic)

        @log_writer = Memwatch.on_periodic(every: AttributionLog::EVERY) do |config|
          next unless active?

          AttributionLog.write(report, Memwatch.log_path, max_bytes: config&.[](:log_max_bytes))
        end
        true
      end

      # call-seq:
      #   Memwatch::Attribution.active? -> true | false (has any request been recorded)
      def active? = !@recorder.nil? && @recorder.active?

      # call-seq:
      #   Memwatch::Attribution.suspects(limit: 3) -> Array of Hash
      #
      # Routes whose retained growth stands out from noise, biggest total first.
      def suspects(limit: 3) = report["routes"].select { |r| r["suspect"] }.first(limit)

      # call-seq:
      #   Memwatch::Attribution.explain -> String or nil
      #
      # One sentence for a verdict's explanation, naming the top suspects.
      def explain = Ranking.sentence(suspects)

      def after_fork # :nodoc:
        @report = nil
        @recorder&.reset_after_fork
      end

      # Forgets what was recorded (tests, or after a deploy).
      def reset
        @report = nil
        recorder.reset
      end

      private

      def check(opts)
        unknown = opts.keys - DEFAULTS.keys
        raise ArgumentError, "memwatch attribution: unknown option #{unknown.first.inspect} (known: #{DEFAULTS.keys.join(", ")})" if unknown.any?
        num = ->(k, range) { raise ArgumentError, "memwatch attribution: #{k} must be in #{range} (got #{opts[k].inspect})" unless opts[k].is_a?(Numeric) && range.cover?(opts[k]) }
        num.(:interval, 0.05..3600)
        num.(:window, 10..86_400)
        raise ArgumentError, "memwatch attribution: max_routes must be an Integer in 2..10000" unless opts[:max_routes].is_a?(Integer) && (2..10_000).cover?(opts[:max_routes])
        unless opts[:sample_every] == :auto || (opts[:sample_every].is_a?(Integer) && (1..10_000).cover?(opts[:sample_every]))
          raise ArgumentError, "memwatch attribution: sample_every must be :auto or an Integer in 1..10000 (got #{opts[:sample_every].inspect})"
        end
        opts[:window] = [opts[:window].to_f, opts[:interval] * 10].max
      end
    end

    # call-seq:
    #   Memwatch::Attribution.new(app, key: nil, **options) -> middleware
    #
    # +key+: a callable env -> String (e.g. ->(env) { env["my.route"] }), called after
    # the app; nil or a failure falls back to RouteKey. Other options go to configure
    # (given options replace the process-wide recorder).
    def initialize(app, key: nil, **options)
      raise ArgumentError, "memwatch attribution: key: must respond to #call" unless key.nil? || key.respond_to?(:call)

      @app = app
      @key = key
      self.class.configure(**options) unless options.empty?
      self.class.install_log_writer
    end

    # call-seq:
    #   attribution.call(env) -> [status, headers, body]
    def call(env)
      recorder = self.class.recorder
      token = recorder.enter
      @app.call(env)
    ensure
      finish(recorder, token, env) if token
    end

    private

    # Runs in the request's ensure: nothing here may raise into the host app.
    def finish(recorder, token, env)
      recorder.leave(token, route_key(env, recorder))
    rescue StandardError => e
      recorder.error!("recording: #{e.class}: #{e.message}"[0, 200])
    end

    # A failing or odd extractor falls back to the path key.
    def route_key(env, recorder)
      if @key
        key = @key.call(env)
        return key[0, 200] if key.is_a?(String) && !key.empty?

        recorder.error!("key extractor returned #{key.class}, not a String")
      end
      RouteKey.call(env)
    rescue StandardError => e
      recorder.error!("key extractor: #{e.class}")
      RouteKey.safe(env)
    end
  end
end

# A forked child (a Puma worker) starts with an empty table of its own. Process.daemon
# is not seen here; the recorder also checks the pid when an interval closes.
module Memwatch
  class Attribution
    module ForkReset
      def _fork
        pid = super
        Memwatch::Attribution.after_fork if pid.zero?
        pid
      end
    end
    Process.singleton_class.prepend(ForkReset) if Process.respond_to?(:_fork)
  end
end

require_relative "attribution/endpoint_route"
Memwatch::Attribution.install_log_writer
