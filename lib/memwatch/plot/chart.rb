# frozen_string_literal: true

module Memwatch
  module Plot
    # One line on the chart (+figure+ names the measure, +label+ adds the log when several
    # logs share the chart): +segments+ are arrays of [tick, bytes], split where data is
    # missing (a restart, a stopped recorder) so no line is drawn across the gap.
    Series = Struct.new(:log, :column, :figure, :label, :color, :dash, :width, :segments, :per_hour, keyword_init: true) do
      def points
        segments.flatten(1)
      end
    end

    # The verdict over time for one log: spans of [from, to, kind], and the final verdict text.
    Band = Struct.new(:log, :spans, :verdict, :kind, keyword_init: true)

    # One y axis (bytes) and its lines; a chart stacks one or more panels over one time axis.
    Panel = Struct.new(:title, :series, keyword_init: true) do
      def y_max
        series.flat_map { |s| s.points.map(&:last) }.max
      end
    end

    # Everything a renderer (SVG or gnuplot) needs; renderers do no analysis. +verdict+ is
    # the chart's headline verdict (else a single band's verdict is shown).
    Chart = Struct.new(:title, :subtitle, :panels, :bands, :t_min, :t_max, :verdict, :verdict_kind, :notes,
                       keyword_init: true) do
      def series
        panels.flat_map(&:series)
      end

      def headline
        return [verdict, verdict_kind] if verdict

        band = bands.size == 1 ? bands.first : nil
        band&.verdict ? [band.verdict, band.kind] : nil
      end
    end

    # Colours and dashes shared by the SVG and gnuplot renderers.
    module Palette
      LOGS = %w[#1f77b4 #d62728 #2ca02c #9467bd #ff7f0e #8c564b #e377c2 #17becf #7f7f7f #bcbd22].freeze
      VERDICTS = {
        "none" => "#9fd59f", "insufficient_data" => "#dddddd", "ruby_objects" => "#e4572e",
        "ruby_malloc" => "#f3a712", "native" => "#8e44ad", "fragmentation" => "#17a2b8",
        "retention" => "#4c6ef5", "outside_process" => "#6c757d", "process" => "#d62728"
      }.freeze
      OTHER_VERDICT = "#c0a080"

      module_function

      def verdict(kind)
        VERDICTS.fetch(kind.to_s, OTHER_VERDICT)
      end

      def log(index)
        LOGS[index % LOGS.size]
      end
    end

    # Splits a series where the time step jumps, and thins each piece for drawing.
    module Segments
      module_function

      # call-seq:
      #   Segments.split(points, max_gap) -> Array of Array of [t, v]
      def split(points, max_gap)
        points.slice_when { |a, b| b[0] - a[0] > max_gap }.to_a
      end

      # call-seq:
      #   Segments.thin(points, buckets) -> points
      #
      # Keeps each time bucket's lowest and highest point, in time order: the drawn line
      # still shows every peak and every post-GC floor.
      def thin(points, buckets)
        return points if points.size <= 2 * buckets

        t0 = points.first[0]
        width = (points.last[0] - t0).fdiv(buckets)
        width = 1e-9 unless width.positive?
        points.chunk_while { |a, b| ((a[0] - t0) / width).floor == ((b[0] - t0) / width).floor }
              .flat_map { |bucket| [bucket.min_by(&:last), bucket.max_by(&:last)].uniq.sort_by(&:first) }
      end

      # call-seq:
      #   Segments.max_gap(ticks, interval) -> seconds
      #
      # A gap is longer than three typical steps (and than two configured intervals).
      def max_gap(ticks, interval)
        steps = ticks.each_cons(2).map { |a, b| b - a }.sort
        typical = steps.empty? ? 1.0 : steps[steps.size / 2]
        [3 * typical, 2 * (interval || 0)].max
      end
    end
  end
end
