# frozen_string_literal: true

require "memwatch/plot/chart"
require "memwatch/plot/axis"
require "memwatch/plot/svg_text"
require "memwatch/cli/format"

module Memwatch
  module Plot
    # One panel of the SVG chart: a zero-based byte axis, grid, the lines (clipped to the
    # panel) and the legend to the right with each line's growth rate.
    class SVGPanel
      include SVGText

      MAX_LOGS = 16

      # +geometry+: left, top, width, height of the plot area; +x+ maps a tick to pixels.
      def initialize(panel, index, geometry, x, several_logs)
        @p = panel
        @i = index
        @left, @top, @w, @h = geometry
        @x = x
        @several = several_logs
        @ymax, @ticks, @unit = Axis.bytes(panel.y_max)
      end

      # call-seq:
      #   panel.render -> String
      def render
        [frame, y_axis, lines, legend].join("\n")
      end

      private

      def y(v)
        (@top + @h - v.to_f / @ymax * @h).round(1)
      end

      def frame
        clip = %(<clipPath id="plot#{@i}"><rect x="#{@left}" y="#{@top}" width="#{@w}" height="#{@h}"/></clipPath>)
        box = %(<rect class="panel" x="#{@left}" y="#{@top}" width="#{@w}" height="#{@h}" fill="#fcfcfc" stroke="#999"/>)
        title = @p.title ? text(@left, @top - 7, @p.title, size: 13, weight: "bold", fill: "#333", cls: "panel-title") : ""
        [clip, box, title].join("\n")
      end

      def y_axis
        ticks = @ticks.map do |t|
          yy = y(t.value)
          %(<line x1="#{@left}" y1="#{yy}" x2="#{@left + @w}" y2="#{yy}" stroke="#e3e3e3"/>\n) +
            text(@left - 8, yy + 4, t.label, anchor: "end", cls: "ytick")
        end
        mid = (@top + @h / 2).round(1)
        ticks << %(<text x="24" y="#{mid}" transform="rotate(-90 24 #{mid})" text-anchor="middle" font-size="13" class="ylabel">memory (#{@unit})</text>)
        ticks.join("\n")
      end

      def lines
        paths = @p.series.map do |s|
          d = s.segments.map { |seg| "M#{seg.map { |t, v| "#{@x.call(t)},#{y(v)}" }.join('L')}" }.join
          dots = s.segments.select { |seg| seg.size < 3 }.flatten(1).map { |t, v| %(<circle cx="#{@x.call(t)}" cy="#{y(v)}" r="2.5" fill="#{s.color}"/>) }
          %(<g class="series" data-column="#{s.column}" data-log="#{esc(s.log)}">) +
            %(<path d="#{d}" fill="none" stroke="#{s.color}" stroke-width="#{s.width}"#{dash(s.dash)} stroke-linejoin="round"/>) +
            dots.join + "</g>"
        end
        %(<g clip-path="url(#plot#{@i})">\n#{paths.join("\n")}\n</g>)
      end

      def legend
        rows = @several ? multi_legend : single_legend
        rows << text(@left + @w + 20, @top + 12 + rows.size * 20, "growth per hour: Theil–Sen slope of the low points", size: 10, fill: "#777") if @i.zero?
        rows.join("\n")
      end

      def single_legend
        @p.series.each_with_index.map do |s, i|
          legend_row(i, s.color, s.width, s.dash, s.label, CLI::Format.rate(s.per_hour&.round))
        end
      end

      # Several logs: a key of line styles (one per figure), then one row per log in its
      # colour with its RSS growth, at most MAX_LOGS rows.
      def multi_legend
        styles = @p.series.uniq(&:figure)
        rows = styles.each_with_index.map { |s, i| legend_row(i, "#555", s.width, s.dash, s.figure, "") }
        @p.series.group_by(&:log).first(MAX_LOGS).each_with_index do |(log, series), j|
          rss = series.find { |s| s.column == :rss_bytes } || series.first
          rows << legend_row(styles.size + j, rss.color, 6, nil, log, "RSS #{CLI::Format.rate(rss.per_hour&.round)}")
        end
        rows
      end

      def legend_row(i, color, width, dash_style, label, right)
        lx = @left + @w + 20
        yy = @top + 12 + i * 20
        %(<g class="legend-entry"><line x1="#{lx}" y1="#{yy}" x2="#{lx + 30}" y2="#{yy}" stroke="#{color}" stroke-width="#{width}"#{dash(dash_style)}/>) +
          text(lx + 38, yy + 4, clip(label, 21)) + text(@left + @w + 288, yy + 4, right, anchor: "end", fill: "#555") + "</g>"
      end
    end
  end
end
