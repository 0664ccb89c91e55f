# frozen_string_literal: true

require "json"

module Memwatch
  module Endpoint
    # GET routes: cheap, read-only, O(ring) at most.
    module ReadRoutes
      SAMPLES_PARAMS = { since: :float, limit: 1..1_000_000, resolution: %w[recent long all] }.freeze
      TSV_TYPE = "text/tab-separated-values; charset=utf-8"

      module_function

      def status(ctx)
        Source.require!
        Response.build(200, Response::JSON_TYPE, ctx.state.status_json)
      end

      # 200 while the sampler runs, 503 when it is stopped: a probe for memwatch itself.
      def health(_ctx)
        Source.require!
        running = Memwatch.running?
        Response.json(running ? 200 : 503, status: running ? "ok" : "stopped", pid: Process.pid,
                                            version: Memwatch::VERSION)
      end

      # The whole document (latest, verdict, both rings), encoded in C.
      def snapshot(_ctx)
        Source.require!
        raise Refused.new(503, "Memwatch.snapshot is not available") unless Memwatch.respond_to?(:snapshot)
        Response.build(200, Response::JSON_TYPE, "#{Memwatch.snapshot}\n")
      end

      # {"columns": [...], "rows": [[...], ...]}, rows in columns order, oldest first.
      def samples_json(ctx)
        Source.require!
        Response.build(200, Response::JSON_TYPE, "#{json_rows(query(ctx))}\n")
      end

      def samples_tsv(ctx)
        Source.require!
        rows = Source.samples(**query(ctx))
        Response.build(200, TSV_TYPE, Tsv.render(Source.columns, rows),
                       "content-disposition" => %(inline; filename="memwatch-#{Process.pid}.tsv"))
      end

      def query(ctx)
        p = ctx.params
        { since: p[:since], limit: p[:limit], resolution: (p[:resolution] || "recent").to_sym }
      end

      def json_rows(query)
        return Memwatch.samples_json(**query) if Memwatch.respond_to?(:samples_json)
        columns = Source.columns
        rows = Source.samples(**query).map do |s|
          columns.map { |c| (v = s[c]).is_a?(Float) && !v.finite? ? nil : v }
        end
        JSON.generate(columns: columns, rows: rows)
      end

      Endpoint.route("GET", "/status", title: "status and verdict (JSON)") { |ctx| status(ctx) }
      Endpoint.route("GET", "/health", title: "is the sampler running") { |ctx| health(ctx) }
      Endpoint.route("GET", "/snapshot", title: "latest sample, verdict and rings (JSON)") { |ctx| snapshot(ctx) }
      Endpoint.route("GET", "/samples", params: SAMPLES_PARAMS, title: "samples (JSON)") { |ctx| samples_json(ctx) }
      Endpoint.route("GET", "/samples.tsv", params: SAMPLES_PARAMS, title: "samples (TSV, the log's format)") { |ctx| samples_tsv(ctx) }
    end
  end
end
