# frozen_string_literal: true

require_relative "../endpoint/routes"
require_relative "../endpoint/request"
require_relative "../endpoint/response"
require_relative "../endpoint/source"
require_relative "../cluster"
require_relative "page"
require_relative "relay"
require_relative "relay_server"

module Memwatch
  module Cluster
    # The endpoint's cluster routes (added to every Memwatch::App / Middleware):
    #   GET  /cluster                  every live process's state (JSON)
    #   GET  /cluster.html             the same as a table
    #   POST /cluster/gc?worker=N      (and /purge, /heap_dump, /tracing/start, /tracing/stop):
    #                                  the action, run by worker N wherever the request lands
    # app.rb requires this file after the action routes it mirrors (and the relay reuses).
    module Routes
      ACTIONS = %w[/gc /purge /heap_dump /tracing/start /tracing/stop].freeze

      module_function

      def json(_ctx)
        Endpoint::Source.require!
        Endpoint::Response.json(200, Cluster.view.document)
      end

      def html(ctx)
        Endpoint::Source.require!
        page = Page.new(Cluster.view.document, base: ctx.request.base, refresh: ctx.params.fetch(:refresh, 10))
        Endpoint::Response.build(200, "text/html; charset=utf-8", page.render,
                                 "content-security-policy" => Endpoint::DashboardPage::CSP)
      end

      # Runs +path+'s action in worker ctx.params[:worker]: here, or relayed to it.
      def action(ctx, path)
        Endpoint::Source.require!
        index = ctx.params[:worker] or raise Endpoint::Refused.new(400, "worker= is required (a worker index)")
        workers = Cluster.view.processes.select { |p| p["role"] == "worker" }
        target = workers.find { |p| p["worker"] == index.to_s }
        unless target
          live = workers.map { |p| p["worker"] }.join(", ")
          raise Endpoint::Refused.new(404, "no live worker #{index} (live workers: #{live.empty? ? "none" : live})")
        end
        return local(ctx, path, target) if target["self"]

        Relay.forward(ctx, target, path, ctx.params.reject { |k, _| k == :worker })
      end

      def local(ctx, path, target)
        ctx.audit.merge!(worker: target["worker"])
        status, headers, body = Endpoint.routes.dig(path, "POST").handler.call(ctx)
        [status, headers.merge("x-memwatch-worker" => target["worker"].to_s), body]
      end

      Endpoint.route("GET", "/cluster", title: "every Puma process: samples, PSS/USS, verdicts (JSON)") { |ctx| json(ctx) }
      Endpoint.route("GET", "/cluster.html", params: { refresh: 0..3600 },
                                             title: "every Puma process (HTML table)") { |ctx| html(ctx) }
      ACTIONS.each do |path|
        route = Endpoint.routes.dig(path, "POST") or next
        Endpoint.route("POST", "/cluster#{path}", params: route.params.merge(worker: 0..99_999), feature: route.feature,
                                                 title: "#{route.title}, in worker N (worker=N)") { |ctx| action(ctx, path) }
      end
    end
  end
end
