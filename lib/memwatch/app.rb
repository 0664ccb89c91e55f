# frozen_string_literal: true

require_relative "version"
require_relative "endpoint_config"
require_relative "endpoint/routes"
require_relative "endpoint/request"
require_relative "endpoint/response"
require_relative "endpoint/access"
require_relative "endpoint/source"
require_relative "endpoint/state"
require_relative "endpoint/dispatcher"
require_relative "endpoint/tsv"
require_relative "endpoint/tracing"
require_relative "endpoint/read_routes"
require_relative "endpoint/actions"
require_relative "endpoint/dump_lock"
require_relative "endpoint/dump_child"
require_relative "endpoint/dump_job"
require_relative "endpoint/dump_body"
require_relative "endpoint/heap_dump"
require_relative "endpoint/heap_capture"
require_relative "endpoint/units"
require_relative "endpoint/svg_chart"
require_relative "endpoint/verdict_view"
require_relative "endpoint/dashboard_page"
require_relative "endpoint/dashboard"
# Routes other parts of memwatch add to every endpoint (after the actions they mirror).
require_relative "metrics/routes"
require_relative "cluster/routes"
require_relative "endpoint/pprof"
Memwatch::Endpoint::Pprof.register # GET /pprof/heap, token-protected like dumps

module Memwatch
  # The mountable Rack app: status, samples, dashboard, health, and POST actions (GC,
  # allocator purge, allocation tracing, heap dump). Deny by default: see EndpointConfig
  # and Endpoint::Access. Plain Rack, no dependency on the rack gem; Rack 2.2 and 3.
  #
  #   # config.ru
  #   map("/memwatch") { run Memwatch::App.new(dumps: true, token_file: "/run/secrets/memwatch") }
  #   # Rails routes.rb
  #   mount Memwatch::App => "/memwatch"    # loopback only, or MEMWATCH_TOKEN from ENV
  class App
    @default = nil
    @default_lock = Mutex.new

    class << self
      # call-seq:
      #   Memwatch::App.call(env) -> [status, headers, body]
      #
      # Lets the class itself be mounted: an app built from the default options (token
      # from MEMWATCH_TOKEN / MEMWATCH_TOKEN_FILE, loopback only otherwise, no dumps).
      def call(env)
        default.call(env)
      end

      def default
        @default || @default_lock.synchronize { @default ||= build_default }
      end

      private

      # A bad MEMWATCH_TOKEN must not turn every request of the host app into an
      # exception: the endpoint answers 500 and says why in the log.
      def build_default
        new
      rescue EndpointConfigError => e
        Logger.new($stderr, progname: "memwatch").error(e.message)
        ->(_env) { Endpoint::Response.error(500, "the memwatch endpoint is misconfigured (see the log)") }
      end
    end

    attr_reader :config

    # call-seq:
    #   Memwatch::App.new(**options) -> app
    #
    # Options: see Memwatch::EndpointConfig. Raises Memwatch::EndpointConfigError at
    # once (at boot) for an unsafe or malformed configuration.
    def initialize(**options)
      @config = EndpointConfig.new(**options)
      @dispatcher = Endpoint::Dispatcher.new(@config, Endpoint::State.new(@config))
    end

    # call-seq:
    #   app.call(env) -> [status, headers, body]
    def call(env)
      @dispatcher.call(env)
    end
  end
end
