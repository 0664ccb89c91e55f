# frozen_string_literal: true

require_relative "app"
require_relative "metrics/routes"

module Memwatch
  # Prometheus metrics in the text exposition format: the /metrics route of every
  # Memwatch::App, or a Rack app of its own with the same options and the same access
  # rules (loopback only, or a bearer token; Prometheus sends one with
  # `authorization: { credentials_file: ... }` in its scrape config).
  #
  #   # config.ru
  #   map("/metrics") { run Memwatch::Metrics.new(token_file: "/run/secrets/memwatch") }
  #
  # In a Puma cluster (plugin :memwatch) one scrape returns every process's series, read
  # from the shared directory and labelled worker="0".."N-1" or "master"; single mode
  # says worker="single". Rendering: metrics/render.rb; the families: metrics/families.rb.
  class Metrics
    # call-seq:
    #   Memwatch::Metrics.call(env) -> [status, headers, body]
    #
    # The class itself mounted: default options (MEMWATCH_TOKEN, else loopback only).
    def self.call(env) = (@default ||= new).call(env)

    # call-seq:
    #   Memwatch::Metrics.new(**options) -> rack app
    #
    # Options: those of Memwatch::App (token:, token_file:, allow:, logger:, ...); a bad
    # one raises Memwatch::EndpointConfigError at once.
    def initialize(**options)
      config = EndpointConfig.new(**options)
      @dispatcher = Endpoint::Dispatcher.new(config, Endpoint::State.new(config))
    end

    # call-seq:
    #   metrics.call(env) -> [status, headers, body]
    #
    # Serves the metrics at its mount point ("" or "/", and "/metrics") and nothing else;
    # access checks, HEAD, refusals and errors are the endpoint's own (Dispatcher).
    def call(env)
      path = env["PATH_INFO"].to_s
      return @dispatcher.call(env) if path == PATH
      return Endpoint::Response.error(404, "no such route (metrics are at the mount point)") unless ["", "/"].include?(path)

      @dispatcher.call(env.merge("PATH_INFO" => PATH))
    end
  end
end
