# frozen_string_literal: true

require_relative "../endpoint/routes"
require_relative "../endpoint/response"

module Memwatch
  class Attribution
    # GET <endpoint>/attribution: the ranking as JSON, on every Memwatch::App and
    # Memwatch::Middleware (same access rules as the other read routes). Registered
    # when memwatch/attribution is loaded. 404-free even before the middleware saw a
    # request: the report then says "insufficient_data".
    module EndpointRoute
      @body = nil

      module_function

      # The report is cached for a couple of seconds; so is its JSON text.
      def call(_ctx)
        report = Memwatch::Attribution.report
        cached = @body
        cached = @body = [report, "#{JSON.generate(report)}\n"].freeze unless cached && cached[0].equal?(report)
        Memwatch::Endpoint::Response.build(200, Memwatch::Endpoint::Response::JSON_TYPE, cached[1])
      end

      Memwatch::Endpoint.route("GET", "/attribution", title: "memory growth by route (JSON)") { |ctx| call(ctx) }
    end
  end
end
