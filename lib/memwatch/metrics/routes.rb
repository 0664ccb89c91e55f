# frozen_string_literal: true

require_relative "../endpoint/routes"
require_relative "render"

module Memwatch
  # GET /metrics on every Memwatch::App and Memwatch::Middleware (required by app.rb).
  Endpoint.route("GET", Metrics::PATH, title: "Prometheus metrics (every Puma process in cluster mode)") do |ctx|
    Metrics.response(ctx)
  end
end
