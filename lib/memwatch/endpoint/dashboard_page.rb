# frozen_string_literal: true

require "digest"

module Memwatch
  module Endpoint
    # The dashboard's HTML. Every dynamic string is escaped with Html.h; the only style
    # sheet is inline and allowed by its hash in the Content-Security-Policy (no script).
    class DashboardPage
      CSS = File.read(File.join(__dir__, "dashboard.css")).freeze
      CSP = "default-src 'none'; style-src 'sha256-#{Digest::SHA256.base64digest(CSS)}'; img-src data:; " \
            "base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
      HEADLINES = {
        "none" => "No leak: memory is flat or only warming up",
        "ruby_objects" => "Ruby objects are piling up",
        "ruby_malloc" => "Memory owned by Ruby objects (big strings, arrays) is growing",
        "native" => "Native memory is growing: a C extension or library",
        "fragmentation" => "Allocator fragmentation is growing",
        "retention" => "The allocator keeps freed memory (a purge gives it back)",
        "outside_process" => "Memory grows outside the process (kernel, host)",
        "insufficient_data" => "Not enough data for a verdict yet"
      }.freeze
      TILES = [["RSS", :rss_bytes, :bytes], ["Ruby heap", :ruby_heap_bytes, :bytes],
               ["jemalloc allocated", :je_allocated_bytes, :bytes], ["malloc in use", :glibc_in_use_bytes, :bytes],
               ["Live slots", :heap_live_slots, :count], ["Old objects", :old_objects, :count],
               ["GC runs", :count, :count]].freeze

      def initialize(ctx, samples, verdict, charts)
        @request = ctx.request
        @config = ctx.config
        @refresh = ctx.params.fetch(:refresh, 30)
        @samples = samples
        @verdict = verdict.is_a?(Hash) ? verdict : nil
        @charts = charts
      end

      def render
        <<~HTML
          <!DOCTYPE html>
          <html lang="en"><head><meta charset="utf-8">
          <meta name="viewport" content="width=device-width, initial-scale=1">
          #{%(<meta http-equiv="refresh" content="#{@refresh}">) if @refresh.positive?}
          <title>memwatch · pid #{Process.pid}</title>
          <style>#{CSS}</style></head>
          <body><main>
          #{header}#{VerdictView.new(@verdict).render}#{tiles}
          <section class="charts">#{charts}</section>
          #{attribution}
          #{routes}
          <footer>A heap dump holds every string in the process, secrets included: treat it like a credential.
          Times are UTC. memwatch #{Html.h(Memwatch::VERSION)}.</footer>
          </main></body></html>
        HTML
      end

      private

      def h(value) = Html.h(value)

      def header
        first, last = @samples.first, @samples.last
        span = last ? "#{clock(first[:tick])}–#{clock(last[:tick])} UTC" : "no samples yet"
        state = Memwatch.running? ? "sampler running" : "sampler stopped"
        refresh = @refresh.positive? ? "refreshes every #{@refresh} s" : "auto-refresh off"
        <<~HTML
          <header><h1>memwatch <span>pid #{Process.pid} · Ruby #{h(RUBY_VERSION)} · #{h(Source.allocator)}</span></h1>
          <p class="meta">#{state} · #{@samples.size} samples · #{span} · #{refresh}</p></header>
        HTML
      end

      def clock(tick) = tick.is_a?(Numeric) ? Time.at(tick).utc.strftime("%H:%M:%S") : "?"

      def tiles
        last = @samples.last or return ""
        first = @samples.first
        cells = TILES.filter_map do |label, key, unit|
          next unless last[key].is_a?(Numeric)
          value = unit == :bytes ? Units.bytes(last[key]) : Units.count(last[key])
          %(<div class="tile"><div class="label">#{h(label)}</div><div class="value">#{h(value)}</div>#{delta(first, last, key, unit)}</div>)
        end
        %(<section class="tiles">#{cells.join}</section>)
      end

      def delta(first, last, key, unit)
        return "" unless first[key].is_a?(Numeric) && !first.equal?(last)
        d = last[key] - first[key]
        text = unit == :bytes ? Units.bytes(d.abs) : Units.count(d.abs)
        %(<div class="delta">#{d.negative? ? "−" : "+"}#{h(text)} since #{clock(first[:tick])}</div>)
      end

      def charts
        return %(<p class="empty">No samples yet: is the sampler running (Memwatch.start)?</p>) if @charts.empty?
        @charts.map do |title, chart, legend|
          items = legend.map do |name, color, value|
            %(<li><svg width="12" height="12" aria-hidden="true"><rect width="12" height="12" rx="2" fill="#{color}"/></svg>#{h(name)}<b>#{h(value)}</b></li>)
          end
          %(<figure class="card"><figcaption>#{h(title)}</figcaption>#{chart.render}<ul class="legend">#{items.join}</ul></figure>)
        end.join
      end

      # Routes ranked by the memory they leave behind, when the app uses
      # Memwatch::Attribution (never loaded just for the dashboard).
      def attribution
        return "" if Memwatch.autoload?(:Attribution) || !Memwatch::Attribution.active?

        %(<section class="card attribution">#{Memwatch::Attribution::Html.table(Memwatch::Attribution.report)}</section>)
      end

      def routes
        base = h(@request.base)
        rows = Endpoint.routes.sort.flat_map do |path, verbs|
          verbs.values.map do |r|
            target = r.verb == "GET" ? %(<a href="#{base}#{h(path)}">#{h(path)}</a>) : h(path)
            off = r.feature && !@config.public_send(:"#{r.feature}?") ? %( <span class="off">off</span>) : ""
            %(<tr><td><code>#{r.verb}</code></td><td><code>#{target}</code></td><td>#{h(r.title)}#{off}</td></tr>)
          end
        end
        %(<section class="card routes"><h2>Routes</h2><table>#{rows.join}</table>) +
          %(<p>Actions are POST-only, e.g. <code>curl -X POST -H "Authorization: Bearer $MEMWATCH_TOKEN" ) +
          %(http://#{h(@request.env["HTTP_HOST"] || "HOST")}#{base}/gc</code></p></section>)
      end
    end
  end
end
