# frozen_string_literal: true

require "memwatch/plot/chart"
require "memwatch/cli/trend"
require "memwatch/cli/format"
require "memwatch/cli/verdicts"

module Memwatch
  module Plot
    # Builds a Chart from process logs (rows of type "sample"): RSS, the Ruby heap and the
    # allocator, one colour per figure for one log, one colour per log (and a dash per
    # figure) for several, plus each log's verdict band.
    class ProcessChart
      # column => [label, colour for a single log, dash, width]
      FIGURES = {
        rss_bytes: ["RSS", "#1f4e9c", nil, 2.6],
        pss_bytes: ["PSS", "#6fa8dc", "7 3", 1.6],
        ruby_heap_bytes: ["Ruby heap", "#d62728", "9 4", 2.0],
        ruby_malloc_bytes: ["Ruby-owned malloc", "#ff7f0e", "2 3", 2.0],
        je_allocated_bytes: ["jemalloc allocated", "#2ca02c", "3 3", 2.0],
        je_active_bytes: ["jemalloc active", "#8fbc8f", "1 3", 1.4],
        je_resident_bytes: ["jemalloc resident", "#bcbd22", "5 2 1 2", 1.4],
        glibc_in_use_bytes: ["glibc in use", "#2ca02c", "3 3", 2.0],
        glibc_free_bytes: ["glibc free", "#bcbd22", "5 2 1 2", 1.4],
        cgroup_usage_bytes: ["cgroup usage", "#7f7f7f", "12 4", 1.2]
      }.freeze
      SINGLE = %i[rss_bytes pss_bytes ruby_heap_bytes ruby_malloc_bytes je_allocated_bytes je_resident_bytes
                  glibc_in_use_bytes glibc_free_bytes].freeze
      ALLOCATED = %i[je_allocated_bytes glibc_in_use_bytes].freeze
      MULTI = %i[rss_bytes ruby_heap_bytes je_allocated_bytes glibc_in_use_bytes].freeze

      # +logs+: Array of [title, metadata, rows, verdict or nil]
      def initialize(logs, columns: nil, buckets: 600)
        @logs = logs
        @columns = columns
        @buckets = buckets
      end

      # call-seq:
      #   chart.build -> Chart
      def build
        series = @logs.each_with_index.flat_map { |log, i| series_for(log, i) }
        ticks = @logs.flat_map { |_, _, rows, _| [rows.first&.dig(:tick), rows.last&.dig(:tick)] }.compact
        Chart.new(title: title, subtitle: subtitle(ticks), panels: [Panel.new(title: nil, series: series)],
                  bands: @logs.map { |log| band(log) }, t_min: ticks.min, t_max: ticks.max, notes: [])
      end

      private

      def columns
        @columns || (@logs.size == 1 ? SINGLE : MULTI)
      end

      def series_for((name, meta, rows, _), index)
        max_gap = Segments.max_gap(rows.map { |r| r[:tick] }, meta[:interval])
        columns.filter_map do |column|
          points = rows.filter_map { |r| [r[:tick], r[column]] if r[column] }
          next if points.empty?

          own_gap = Segments.max_gap(points.map(&:first), nil)
          line(name, column, index, points, [max_gap, own_gap].max)
        end
      end

      def line(name, column, index, points, max_gap)
        label, colour, dash, width = FIGURES.fetch(column) { [column.to_s.sub(/_bytes\z/, ""), "#444444", nil, 1.5] }
        single = @logs.size == 1
        label = "allocator in use" if !single && ALLOCATED.include?(column)
        fit = CLI::Trend.fit(points.map(&:first), points.map(&:last))
        Series.new(log: name, column: column, figure: label, label: single ? label : "#{name} #{label}",
                   color: single ? colour : Palette.log(index), dash: dash, width: width,
                   segments: Segments.split(points, max_gap).map { |seg| Segments.thin(seg, @buckets) },
                   per_hour: fit && fit.slope * 3600)
      end

      # Spans where the process's own logged verdict held; the final verdict is the
      # classifier's over the whole log (or the last logged one).
      def band((name, _, rows, verdict))
        marks = rows.select { |r| r[:verdict] }
        t_end = rows.last&.dig(:tick)
        spans = marks.each_with_index.filter_map do |r, i|
          to = marks[i + 1] ? marks[i + 1][:tick] : t_end
          [r[:tick], to, r[:verdict]] if to && to > r[:tick]
        end
        spans = merge(spans)
        spans = window_span(verdict) if spans.empty?
        Band.new(log: name, spans: spans, verdict: verdict && CLI::Verdicts.headline(verdict),
                 kind: verdict && verdict_kind(verdict))
      end

      # A process that logged no verdict still gets the classifier's, over the window it judged.
      def window_span(verdict)
        window = verdict.respond_to?(:window) ? verdict.window : {}
        from, to = window.values_at("from", "to")
        from && to && to > from ? [[from, to, verdict_kind(verdict)]] : []
      end

      def merge(spans)
        spans.slice_when { |a, b| a[2] != b[2] }.map { |run| [run.first[0], run.last[1], run.first[2]] }
      end

      def verdict_kind(verdict)
        (verdict.respond_to?(:kind) ? verdict.kind : verdict.to_h[:kind]).to_s
      end

      def title
        return "memwatch: #{@logs.first[0]}" if @logs.size == 1

        "memwatch: #{@logs.size} processes"
      end

      def subtitle(ticks)
        return "no samples" if ticks.empty?

        from, to = ticks.minmax
        "#{CLI::Format.time(from)} to #{Time.at(to).strftime('%H:%M:%S')} (#{CLI::Format.duration(to - from)})"
      end
    end
  end
end
