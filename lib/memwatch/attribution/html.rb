# frozen_string_literal: true

require "cgi"

module Memwatch
  class Attribution
    # An HTML fragment for the dashboard: the top routes of a report as a table (no
    # scripts, no external assets; every value escaped, route keys come from requests).
    module Html
      COLUMNS = [["route", "route"], ["requests", "requests"], ["retained / request", "retained_bytes_per_request"],
                 ["± (1 s.e.)", "retained_bytes_per_request_se"], ["retained in window", "retained_bytes"],
                 ["allocated objects / request", "allocated_objects_per_request"], ["confidence", "confidence"]].freeze

      module_function

      # call-seq:
      #   Html.table(report, limit: 10) -> String
      def table(report, limit: 10)
        rows = report["routes"].first(limit).map do |r|
          cells = COLUMNS.map { |_, k| "<td>#{cell(k, r[k])}</td>" }.join
          %(<tr#{' class="suspect"' if r["suspect"]}>#{cells}</tr>)
        end
        head = COLUMNS.map { |t, _| "<th>#{t}</th>" }.join
        caption = "Memory left behind, by route (#{h(report["status"])}; #{report["requests"]} requests over " \
                  "#{report["window_seconds"]} s; #{h(report["method"])})"
        %(<table class="attribution"><caption>#{h(caption)}</caption><thead><tr>#{head}</tr></thead>) +
          %(<tbody>#{rows.join}</tbody></table>)
      end

      def cell(key, value)
        return "–" if value.nil?
        return h(Ranking.human(value)) if key.include?("bytes")

        h(value.to_s)
      end

      def h(text) = CGI.escapeHTML(text.to_s)
    end
  end
end
