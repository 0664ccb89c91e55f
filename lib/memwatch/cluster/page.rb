# frozen_string_literal: true

require_relative "../endpoint/units"
require_relative "../endpoint/dashboard_page"

module Memwatch
  module Cluster
    # GET /cluster.html: one table row per process, readable without JavaScript. Uses the
    # dashboard's style sheet (and so its Content-Security-Policy). Every dynamic string
    # goes through Html.h.
    class Page
      COLUMNS = ["process", "pid", "verdict", "RSS", "PSS", "USS", "shared", "USS growth",
                 "Ruby heap", "old objects", "GC runs", "sample age"].freeze

      def initialize(document, base:, refresh: 10)
        @doc = document
        @base = base
        @refresh = refresh
      end

      def render
        <<~HTML
          <!DOCTYPE html>
          <html lang="en"><head><meta charset="utf-8">
          <meta name="viewport" content="width=device-width, initial-scale=1">
          #{%(<meta http-equiv="refresh" content="#{@refresh.to_i}">) if @refresh.to_i.positive?}
          <title>memwatch · cluster</title>
          <style>#{Endpoint::DashboardPage::CSS}</style></head>
          <body><main>
          #{header}
          <section class="card"><table>
          <tr>#{COLUMNS.map { |c| "<td><b>#{h(c)}</b></td>" }.join}</tr>
          #{@doc["processes"].map { |p| row(p) }.join("\n")}
          </table></section>
          #{totals}#{pruned}
          <footer>RSS counts shared (copy-on-write) pages in every process; PSS splits them; USS is memory only
          that process holds: compare workers by USS. Growth is measured from each process's post-boot reference.
          JSON: <a href="#{h(@base)}/cluster">#{h(@base)}/cluster</a>.</footer>
          </main></body></html>
        HTML
      end

      private

      def h(value) = Endpoint::Html.h(value)
      def bytes(n) = n.is_a?(Numeric) ? Endpoint::Units.bytes(n) : "–"
      def count(n) = n.is_a?(Numeric) ? Endpoint::Units.count(n) : "–"

      def header
        by = @doc["answered_by"]
        <<~HTML
          <header><h1>memwatch cluster <span>#{@doc["processes"].size} processes · #{h(@doc["mode"])}</span></h1>
          <p class="meta">answered by #{h(name(by))} (pid #{h(by["pid"])}) · directory #{h(@doc["directory"] || "none")}
          #{@refresh.to_i.positive? ? "· refreshes every #{@refresh.to_i} s" : ""}</p></header>
        HTML
      end

      def name(p) = p["role"] == "worker" ? "worker #{p["worker"]}" : p["worker"].to_s

      def row(p)
        mem = p["memory"] || {}
        sample = p["sample"] || {}
        growth = p["growth"] || {}
        cells = [name(p) + (p["self"] ? " (answered)" : ""), p["pid"], verdict(p["verdict"]),
                 bytes(mem["rss_bytes"]), bytes(mem["pss_bytes"]), bytes(mem["uss_bytes"]), bytes(p["shared_bytes"]),
                 signed(growth["uss_bytes"]), bytes(sample["ruby_heap_bytes"]), count(sample["old_objects"]),
                 count(sample["count"]), "#{p["age_seconds"].to_f.round(1)} s"]
        "<tr>#{cells.map { |c| "<td>#{h(c)}</td>" }.join}</tr>"
      end

      def verdict(v)
        return "none yet" unless v.is_a?(Hash)

        [v["kind"], v["level"]].compact.join(" / ")
      end

      def signed(n)
        return "pending" unless n.is_a?(Numeric)

        "#{n.negative? ? "−" : "+"}#{bytes(n.abs)}"
      end

      def totals
        t = @doc["totals"] || {}
        <<~HTML
          <section class="card routes"><p>Sum of RSS #{h(bytes(t["rss_bytes"]))} (double counts shared pages) ·
          sum of PSS #{h(bytes(t["pss_bytes"]))} (the cluster's real footprint) · sum of USS #{h(bytes(t["uss_bytes"]))}.
          Largest worker by RSS: #{h(t["largest_by_rss"] || "–")}; by USS: #{h(t["largest_by_uss"] || "–")}.</p></section>
        HTML
      end

      def pruned
        return "" if @doc["pruned"].empty?

        items = @doc["pruned"].map { |x| "<li>#{h(x["label"])} (pid #{h(x["pid"])}): #{h(x["reason"])}</li>" }
        %(<section class="card routes"><p>Left out:</p><ul>#{items.join}</ul></section>)
      end
    end
  end
end
