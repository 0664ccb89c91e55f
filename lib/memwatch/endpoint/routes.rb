# frozen_string_literal: true

module Memwatch
  # The Rack endpoint's parts. Memwatch::App and Memwatch::Middleware are the entry points.
  module Endpoint
    # One route: +verb+ "GET" (HEAD is served too) or "POST"; +params+ is the spec given
    # to Request#params; +feature+ (:dumps, :tracing or nil) must be enabled in the config.
    Route = Struct.new(:verb, :path, :params, :feature, :title, :handler, keyword_init: true)

    # What a handler gets: the Request, its checked params (frozen), the EndpointConfig,
    # the per-app State (caches), and #audit, a Hash the handler may fill for the audit line.
    class Context
      attr_reader :request, :config, :state
      attr_accessor :params

      # call-seq:
      #   Context.new(request, params, config, state, audit = nil) -> context
      def initialize(request, params, config, state, audit = nil)
        @request = request
        @params = params
        @config = config
        @state = state
        @audit = audit
      end

      # Allocated on first use: read routes (the polled ones) never need it.
      def audit = (@audit ||= {})
    end

    @routes = {}
    @routes_lock = Mutex.new

    class << self
      # call-seq:
      #   Memwatch::Endpoint.route(verb, path, params: {}, feature: nil, title: nil) { |ctx| triple } -> Route
      #
      # Adds a route to every endpoint (the extension point for /metrics, the cluster view,
      # /pprof/heap...). The block returns a Rack triple; build it with Endpoint::Response.
      # Access control, parameter checks, HEAD, 404/405 and error handling are done for it.
      #
      #   Memwatch::Endpoint.route("GET", "/metrics", title: "Prometheus metrics") do |ctx|
      #     Memwatch::Endpoint::Response.build(200, "text/plain; version=0.0.4", text)
      #   end
      def route(verb, path, params: {}, feature: nil, title: nil, &handler)
        raise ArgumentError, "verb must be GET or POST" unless %w[GET POST].include?(verb)
        raise ArgumentError, "path must start with / and have no trailing /" unless path.match?(%r{\A/(?:[\w./-]*[\w.])?\z})
        raise ArgumentError, "a handler block is required" unless handler
        route = Route.new(verb: verb, path: path, params: params.freeze, feature: feature,
                          title: title, handler: handler).freeze
        @routes_lock.synchronize do
          @routes = @routes.merge(path => (@routes[path] || {}).merge(verb => route).freeze).freeze
        end
        route
      end

      # call-seq:
      #   Memwatch::Endpoint.unroute(verb, path) -> Route or nil
      def unroute(verb, path)
        @routes_lock.synchronize do
          verbs = @routes[path] or return nil
          rest = verbs.reject { |v, _| v == verb }.freeze
          @routes = (rest.empty? ? @routes.reject { |p, _| p == path } : @routes.merge(path => rest)).freeze
          verbs[verb]
        end
      end

      # call-seq:
      #   Memwatch::Endpoint.routes -> Hash  (path => {verb => Route}), frozen
      def routes = @routes
    end
  end
end
