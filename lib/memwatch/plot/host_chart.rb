# frozen_string_literal: true

require "memwatch/plot/chart"
require "memwatch/host_recorder/ranking"
require "memwatch/cli/format"

module Memwatch
  module Plot
    # Builds a two-panel Chart from a `memwatch record --all` log: the host (used memory,
    # every process's RSS together, kernel slab, shared memory) above, and the processes
    # that grow fastest below, with the `memwatch top` verdict as the headline.
    class HostChart
      HOST = {
        host_used_bytes: ["host used", "#222222", nil, 2.6],
        procs_rss_bytes: ["all processes' RSS", "#1f77b4", "8 4", 2.0],
        host_sunreclaim_bytes: ["slab unreclaimable", "#8e44ad", "3 3", 2.0],
        host_shmem_bytes: ["shmem / tmpfs", "#8c564b", "1 3", 1.6],
        cgroup_usage_bytes: ["cgroup usage", "#7f7f7f", "12 4", 1.2]
      }.freeze
      PROCESS_COLOURS = %w[#d62728 #ff7f0e #2ca02c #9467bd #17becf #e377c2 #bcbd22 #8c564b].freeze

      # +log+: {title:, meta:, rows:}; the host panel's title names "host used" as
      # MemTotal - MemAvailable.
      def initialize(log, top: 5, buckets: 600)
        @log = log
        @rows = log[:rows]
        @top = top
        @buckets = buckets
        @ranking = HostRecorder::Ranking.new(@rows, interval: log[:meta][:interval])
      end

      # call-seq:
      #   chart.build -> Chart
      def build
        host = @rows.select { |r| r[:type] == "host" }
        ticks = host.map { |r| r[:tick] }
        @gap = Segments.max_gap(ticks, @log[:meta][:interval])
        verdict, kind = headline
        Chart.new(title: "memwatch: host #{@log[:meta][:hostname]}", subtitle: subtitle(ticks),
                  panels: [Panel.new(title: "host memory (used = MemTotal - MemAvailable)", series: host_series(host)),
                           Panel.new(title: "fastest-growing processes (RSS)", series: process_series)],
                  bands: [], t_min: ticks.min, t_max: ticks.max, verdict: verdict, verdict_kind: kind, notes: [])
      end

      private

      def host_series(host)
        HOST.filter_map do |col, (label, colour, dash, width)|
          pts = host.filter_map { |r| [r[:tick], r[col]] if r[col] }
          next if pts.empty? || (col != :host_used_bytes && pts.map(&:last).max.zero?)

          rate = col == :host_used_bytes ? @ranking.host[:used] : @ranking.host.dig(:components, col) || @ranking.host[:processes]
          rate = @ranking.host[:processes] if col == :procs_rss_bytes
          series("host", col, label, colour, dash, width, pts, rate && rate[:rate])
        end
      end

      def process_series
        @ranking.entries.first(@top).each_with_index.map do |e, i|
          pts = @ranking.series(e)
          words = e.command.to_s.split.first(2)
          label = "#{e.pid} #{[File.basename(words.first.to_s), *words[1..]].join(' ')}"
          series(label, :rss_bytes, label, PROCESS_COLOURS[i % PROCESS_COLOURS.size], nil, i.zero? ? 2.6 : 1.8, pts, e.rate)
        end
      end

      # Process rows are written when RSS moves, so a process's own gaps can be longer
      # than the host's; a gap only breaks the line when the recorder itself stopped.
      def series(log, col, label, colour, dash, width, pts, rate)
        segments = Segments.split(pts, [@gap, 62 * (@log[:meta][:interval] || 5)].max).map { |s| Segments.thin(s, @buckets) }
        Series.new(log: log, column: col, figure: label, label: label, color: colour, dash: dash, width: width,
                   segments: segments, per_hour: rate)
      end

      def headline
        return ["insufficient data (#{@ranking.host_samples} host samples)", "insufficient_data"] if @ranking.host_samples < 3

        outside = @ranking.outside? ? "host memory grows #{CLI::Format.rate(@ranking.host[:outside][:rate].round)} outside any process" : nil
        top = @ranking.growing.first
        proc_text = top && "process #{top.pid} (#{top.command.to_s[0, 40]}) grows #{CLI::Format.rate(top.rate.round)}"
        text = [outside, proc_text].compact.join("; ")
        return ["nothing grows", "none"] if text.empty?

        [text, outside ? "outside_process" : "process"]
      end

      def subtitle(ticks)
        return "no samples" if ticks.empty?

        "#{CLI::Format.time(ticks.min)} to #{Time.at(ticks.max).strftime('%H:%M:%S')} (#{CLI::Format.duration(ticks.max - ticks.min)}), one sample every #{@log[:meta][:interval]}s"
      end
    end
  end
end
