# frozen_string_literal: true

module Memwatch
  module Endpoint
    # A server-side line chart as inline SVG: no JavaScript, no external assets. Values
    # are bytes or counts over epoch-second ticks. Long series are reduced to a min and
    # max per pixel column, so spikes survive. Styling comes from the page's CSS classes.
    class SvgChart
      W = 600
      H = 230
      LEFT = 66
      RIGHT = 14
      TOP = 14
      BOTTOM = 30
      Series = Struct.new(:name, :color, :points) # points: [[tick, value], ...], no nils

      # call-seq:
      #   SvgChart.new(title, unit, series) -> chart     (unit: :bytes or :count)
      def initialize(title, unit, series)
        @title = title
        @unit = unit
        @series = series.reject { |s| s.points.empty? }
      end

      def empty? = @series.empty?

      def render
        return %(<p class="empty">No data for this chart yet.</p>) if empty?
        compute_scales
        <<~SVG
          <svg class="chart" viewBox="0 0 #{W} #{H}" role="img" aria-label="#{Html.h(@title)}" xmlns="http://www.w3.org/2000/svg">
          <title>#{Html.h(@title)}</title>
          #{y_axis}#{x_axis}#{@series.map { |s| line(s) }.join}
          </svg>
        SVG
      end

      private

      def compute_scales
        ticks = @series.flat_map { |s| [s.points.first[0], s.points.last[0]] }
        values = @series.flat_map { |s| s.points.map(&:last) }
        @t0, @t1 = ticks.minmax
        @t1 = @t0 + 1 if @t1 <= @t0
        @div, @suffix = Units.scale(@unit, values.max)
        @div = @div.to_f # integer bytes / integer divisor would truncate
        @ymin, @ymax, @ystep = Units.nice_range(values.min / @div, values.max / @div)
      end

      def x(t) = (LEFT + (t - @t0) * (W - LEFT - RIGHT) / (@t1 - @t0)).round(1)
      def y(v) = (H - BOTTOM - (v / @div - @ymin) * (H - TOP - BOTTOM) / (@ymax - @ymin)).round(1)

      def y_axis
        out = +""
        v = @ymin
        while v <= @ymax + @ystep / 1000.0
          py = y(v * @div)
          out << %(<line class="grid" x1="#{LEFT}" x2="#{W - RIGHT}" y1="#{py}" y2="#{py}"/>)
          out << %(<text class="tick" x="#{LEFT - 6}" y="#{py + 4}" text-anchor="end">#{Units.tick(v)}#{@unit == :bytes ? " " : ""}#{@suffix}</text>)
          v += @ystep
        end
        out
      end

      def x_axis
        span = @t1 - @t0
        fmt = span < 600 ? "%H:%M:%S" : (span < 2 * 86_400 ? "%H:%M" : "%b %d %H:%M")
        (0..4).map do |i|
          t = @t0 + span * i / 4.0
          anchor = { 0 => "start", 4 => "end" }.fetch(i, "middle")
          %(<text class="tick" x="#{x(t)}" y="#{H - 10}" text-anchor="#{anchor}">#{Time.at(t).utc.strftime(fmt)}</text>)
        end.join << %(<line class="axis" x1="#{LEFT}" x2="#{W - RIGHT}" y1="#{H - BOTTOM}" y2="#{H - BOTTOM}"/>)
      end

      def line(series)
        pts = reduce(series.points).map { |t, v| "#{x(t)},#{y(v)}" }
        last_t, last_v = series.points.last
        %(<polyline fill="none" stroke="#{series.color}" stroke-width="2" stroke-linejoin="round" points="#{pts.join(" ")}">) +
          %(<title>#{Html.h(series.name)}</title></polyline>) +
          %(<circle cx="#{x(last_t)}" cy="#{y(last_v)}" r="3.5" fill="#{series.color}"/>)
      end

      # At most two points (min and max, in time order) per pixel column.
      def reduce(points)
        return points if points.size <= W - LEFT - RIGHT
        points.group_by { |t, _| x(t).floor }.flat_map do |_, col|
          lo, hi = col.minmax_by(&:last)
          lo.equal?(hi) ? [lo] : [lo, hi].sort_by(&:first)
        end
      end
    end
  end
end
