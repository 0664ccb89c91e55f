# frozen_string_literal: true

require "digest"

module Memwatch
  module Endpoint
    # GET / : one HTML page, readable at a glance and without JavaScript: the verdict with
    # its evidence, key figures, and inline SVG charts of process memory, the Ruby heap,
    # the allocator and object counts over the rings' whole history.
    module Dashboard
      PARAMS = { refresh: 0..3600, resolution: %w[all recent] }.freeze
      BLUE = "#2563eb"
      VIOLET = "#7c3aed"
      CYAN = "#0891b2"
      GREEN = "#16a34a"
      ORANGE = "#ea580c"
      RED = "#dc2626"
      AMBER = "#d97706"
      SLATE = "#64748b"
      TEAL = "#0d9488"
      CHARTS = [
        ["Process memory", :bytes, [[:rss_bytes, "RSS", BLUE], [:rss_anon_bytes, "anonymous RSS", VIOLET],
                                    [:pss_bytes, "PSS", CYAN]]],
        ["Ruby heap", :bytes, [[:ruby_heap_bytes, "heap pages", GREEN], [:ruby_malloc_bytes, "Ruby-owned malloc", ORANGE]]],
        ["Allocator: jemalloc", :bytes, [[:je_allocated_bytes, "allocated", RED], [:je_active_bytes, "active", AMBER],
                                         [:je_resident_bytes, "resident", SLATE], [:je_retained_bytes, "retained", CYAN]]],
        ["Allocator: glibc malloc", :bytes, [[:glibc_in_use_bytes, "in use", RED], [:glibc_free_bytes, "free in arenas", AMBER],
                                             [:glibc_arena_bytes, "arena", SLATE]]],
        ["Ruby objects", :count, [[:heap_live_slots, "live slots", GREEN], [:old_objects, "old objects", TEAL]]]
      ].freeze

      module_function

      def call(ctx)
        Source.require!
        samples = Source.samples(resolution: (ctx.params[:resolution] || "all").to_sym)
        html = DashboardPage.new(ctx, samples, ctx.state.verdict, charts(samples)).render
        Response.build(200, "text/html; charset=utf-8", html, "content-security-policy" => DashboardPage::CSP)
      end

      # [[title, SvgChart, legend]] for the charts that have data.
      def charts(samples)
        CHARTS.filter_map do |title, unit, lines|
          series = lines.map { |key, name, color| SvgChart::Series.new(name, color, points(samples, key)) }
          chart = SvgChart.new(title, unit, series)
          next if chart.empty?
          legend = series.reject { |s| s.points.empty? }.map { |s| [s.name, s.color, format_value(unit, s.points.last[1])] }
          [title, chart, legend]
        end
      end

      def points(samples, key)
        samples.filter_map do |s|
          t = s[:tick]
          v = s[key]
          [t, v] if t.is_a?(Numeric) && v.is_a?(Numeric) && (!v.is_a?(Float) || v.finite?)
        end
      end

      def format_value(unit, v) = unit == :bytes ? Units.bytes(v) : Units.count(v)

      Endpoint.route("GET", "/", params: PARAMS, title: "dashboard (HTML)") { |ctx| call(ctx) }
    end
  end
end
