# frozen_string_literal: true

require "memwatch/plot/chart"
require "memwatch/plot/axis"
require "memwatch/cli/format"

module Memwatch
  module Plot
    # Writes a Chart as a self-contained gnuplot script (data inline in $data blocks), for
    # PNG output and for people who want to tweak the chart. Times are shifted to local
    # time because gnuplot's time axis is UTC. Several panels become a multiplot.
    class Gnuplot
      def initialize(chart, output:, width: 1200, height: 720)
        @c = chart
        @output = output
        @width = width
        @height = height
        @offset = Time.at(chart.t_min || 0).utc_offset
      end

      # call-seq:
      #   gnuplot.script -> String
      def script
        parts = [preamble, data_blocks]
        if multi? # the same margins on every panel, so their time axes line up
          parts << "set multiplot layout #{@c.panels.size},1 title #{quote(title_text)} font \",13\""
          parts << "set lmargin at screen 0.07\nset rmargin at screen 0.68"
        end
        @c.panels.each_with_index { |panel, i| parts << panel_script(panel, i) }
        parts << "unset multiplot" if multi?
        parts.join("\n")
      end

      private

      def multi?
        @c.panels.size > 1
      end

      def preamble
        zone = Axis.zone_label(@c.t_min || 0)
        <<~GP
          # memwatch plot: #{@c.title}
          # Run: gnuplot THIS_FILE    (edit freely: data is inline below)
          # Times are local (#{zone}): epoch seconds shifted by #{@offset} s.
          set terminal pngcairo size #{@width},#{@height} noenhanced font "DejaVu Sans,10"
          set output #{quote(@output)}
          set xdata time
          set timefmt "%s"
          set format x "#{(@c.t_max || 1) - (@c.t_min || 0) < 600 ? '%H:%M:%S' : '%H:%M'}"
          set xrange [#{at(@c.t_min || 0)}:#{at([@c.t_max || 1, (@c.t_min || 0) + 1].max)}]
          set xlabel #{quote("time of day (#{zone})")}
          set yrange [0:*]
          set grid
          set key outside right top
          set datafile separator "\\t"
        GP
      end

      def title_text
        headline = @c.headline
        "#{@c.title}\\n#{@c.subtitle}#{headline ? "\\nverdict: #{headline.first}" : ''}"
      end

      def data_blocks
        @c.series.each_with_index.map do |s, i|
          rows = s.segments.map { |seg| seg.map { |t, v| "#{at(t)}\t#{v}" }.join("\n") }
          "$data#{i} << EOD\n#{rows.join("\n\n")}\nEOD"
        end.join("\n")
      end

      def panel_script(panel, index)
        div, unit = Axis.byte_unit(panel.y_max || 1)
        lines = []
        lines << (multi? ? "set title #{quote(panel.title.to_s)}" : "set title #{quote(title_text)} font \",13\"")
        lines << "set ylabel #{quote("memory (#{unit})")}"
        lines.concat(verdict_objects) if index == @c.panels.size - 1
        lines << plot_command(panel, div)
        lines << "unset object; unset label"
        lines.join("\n")
      end

      # Each log's verdict spans as coloured strips along the bottom of the last panel.
      def verdict_objects
        n = 0
        @c.bands.each_with_index.flat_map do |b, row|
          y0 = (0.01 + row * 0.03).round(3)
          b.spans.flat_map do |from, to, kind|
            n += 1
            ["set object #{n} rect from #{at(from)}, graph #{y0} to #{at(to)}, graph #{(y0 + 0.025).round(3)} " \
             "fc rgb #{quote(Palette.verdict(kind))} fs solid 0.8 noborder behind",
             "set label #{n} #{quote(@c.bands.size > 1 ? "#{b.log}: #{kind}" : kind)} at #{at(from)}, graph #{(y0 + 0.012).round(3)} offset 0.5,0 font \",8\" front"]
          end
        end
      end

      def plot_command(panel, div)
        first = @c.series.index(panel.series.first)
        lines = panel.series.each_with_index.map do |s, i|
          rate = s.per_hour ? " (#{CLI::Format.rate(s.per_hour.round)})" : ""
          dt = s.dash ? " dt (#{s.dash.split.join(',')})" : ""
          "$data#{first + i} using 1:($2/#{div}) with lines lw #{(s.width * 0.8).round(1)} lc rgb #{quote(s.color)}#{dt} title #{quote(s.label + rate)}"
        end
        lines.empty? ? "plot 0 notitle" : "plot #{lines.join(", \\\n     ")}"
      end

      def at(t)
        (t + @offset).round(3)
      end

      # Double quotes so "\n" in titles breaks lines; a quote in a label is escaped.
      def quote(str)
        %("#{str.to_s.gsub('"', '\\"')}")
      end
    end
  end
end
