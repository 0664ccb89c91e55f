# frozen_string_literal: true

require "memwatch/plot/chart"
require "memwatch/plot/axis"
require "memwatch/plot/svg_text"
require "memwatch/plot/svg_panel"

module Memwatch
  module Plot
    # Renders a Chart as a standalone SVG document (no scripts, no external assets): the
    # title and headline verdict, one or more stacked panels over one local time-of-day
    # axis, and one verdict band per log under the axis.
    class SVG
      include SVGText

      WIDTH = 1200
      LEFT = 86
      RIGHT = 300
      TOP = 96
      PLOT_HEIGHT = 470
      PANEL_GAP = 34
      BAND = 22

      def initialize(chart)
        @c = chart
        @t0 = chart.t_min || 0
        @t1 = [chart.t_max || 1, @t0 + 1].max
        @pw = WIDTH - LEFT - RIGHT
      end

      # call-seq:
      #   svg.render -> String
      def render
        body = [background, titles, x_axis, panels, bands].join("\n")
        <<~SVG
          <?xml version="1.0" encoding="UTF-8"?>
          <svg xmlns="http://www.w3.org/2000/svg" width="#{WIDTH}" height="#{height}" viewBox="0 0 #{WIDTH} #{height}" font-family="DejaVu Sans, Helvetica, Arial, sans-serif" font-size="12">
          <title>#{esc(@c.title)}</title>
          #{body}
          </svg>
        SVG
      end

      private

      def height
        bands_top + @c.bands.size * BAND + 24
      end

      def bands_top
        TOP + PLOT_HEIGHT + 62
      end

      def x(t)
        (LEFT + (t - @t0) / (@t1 - @t0) * @pw).round(1)
      end

      def background
        %(<rect width="100%" height="100%" fill="#ffffff"/>)
      end

      def panels
        n = @c.panels.size
        h = (PLOT_HEIGHT - PANEL_GAP * (n - 1)) / n
        mapper = method(:x)
        @c.panels.each_with_index.map do |panel, i|
          SVGPanel.new(panel, i, [LEFT, TOP + i * (h + PANEL_GAP), @pw, h], mapper, @c.bands.size > 1).render
        end.join("\n")
      end

      def titles
        parts = [text(20, 32, @c.title, size: 20, weight: "bold", cls: "title"),
                 text(20, 54, @c.subtitle, size: 13, fill: "#555", cls: "subtitle")]
        headline = @c.headline
        parts << verdict_line(*headline) if headline
        parts.concat(@c.notes.each_with_index.map { |n, i| text(LEFT + @pw + 20, 32 + 16 * i, n, fill: "#555", cls: "note") })
        parts.join("\n")
      end

      def verdict_line(verdict, kind)
        chip = %(<rect x="20" y="63" width="14" height="14" rx="3" fill="#{Palette.verdict(kind)}"/>)
        "#{chip}\n#{text(40, 75, clip("verdict: #{verdict}", 125), size: 14, weight: 'bold', cls: 'verdict')}"
      end

      def x_axis
        base = TOP + PLOT_HEIGHT
        ticks = Axis.time(@t0, @t1).map do |t|
          xx = x(t.value)
          out = %(<line x1="#{xx}" y1="#{TOP}" x2="#{xx}" y2="#{base}" stroke="#eeeeee"/>\n) +
                %(<line x1="#{xx}" y1="#{base}" x2="#{xx}" y2="#{base + 5}" stroke="#999"/>\n) +
                text(xx, base + 18, t.label, anchor: "middle", cls: "xtick")
          t.date ? "#{out}\n#{text(xx, base + 32, t.date, anchor: 'middle', fill: '#555', cls: 'xdate')}" : out
        end
        ticks << text(LEFT + @pw / 2, base + 50, "time of day (#{Axis.zone_label(@t0)})", anchor: "middle", size: 13, cls: "xlabel")
        ticks.join("\n")
      end

      def bands
        return "" if @c.bands.empty?

        head = text(LEFT - 8, bands_top - 8, "verdict", anchor: "end", weight: "bold", fill: "#555")
        rows = @c.bands.each_with_index.map { |b, i| band(b, bands_top + i * BAND) }
        ([head] + rows).join("\n")
      end

      def band(b, top)
        spans = b.spans.map do |from, to, kind|
          w = (x(to) - x(from)).round(1)
          label = w > kind.size * 7 + 6 ? text(x(from) + 4, top + 14, kind, size: 11, fill: "#222") : ""
          %(<rect class="span" data-kind="#{esc(kind)}" x="#{x(from)}" y="#{top}" width="#{w}" height="#{BAND - 4}" fill="#{Palette.verdict(kind)}"><title>#{esc(kind)}</title></rect>#{label})
        end
        %(<g class="band" data-log="#{esc(b.log)}" data-verdict="#{esc(b.kind)}">) +
          %(<rect x="#{LEFT}" y="#{top}" width="#{@pw}" height="#{BAND - 4}" fill="#f2f2f2"/>) +
          spans.join + text(LEFT - 8, top + 14, clip(b.log, 12), anchor: "end", size: 11) +
          text(LEFT + @pw + 20, top + 14, clip(b.kind || "no verdict", 40), size: 11, fill: "#333") + "</g>"
      end
    end
  end
end
