# frozen_string_literal: true

require "memwatch/cli/trend"

module Memwatch
  class HostRecorder
    # Ranks the processes of a host log by growth rate: the Theil–Sen slope of RSS (one GC
    # spike or one drop does not decide), ordered by its lower confidence bound so that
    # sustained growth outranks a short burst seen in a few samples. It also checks whether the host's used memory grows
    # more than every process together: the kernel (slab), tmpfs or something else outside
    # any process.
    class Ranking
      HOUR = 3600.0
      # Host growth components from /proc/meminfo, in the order they are blamed.
      COMPONENTS = {
        host_sunreclaim_bytes: "kernel slab, unreclaimable (sockets, inodes, kernel objects: see slabtop)",
        host_shmem_bytes: "shared memory / tmpfs files (df -t tmpfs, ipcs -m)",
        host_page_tables_bytes: "page tables",
        host_kernel_stack_bytes: "kernel stacks (threads)",
        host_sreclaimable_bytes: "kernel slab, reclaimable (dentries, inode caches)"
      }.freeze

      # Memory no process's RSS counts: the sum of these is the "outside any process" series.
      # (Used memory minus the sum of RSS would be wrong: shared pages are in several RSS.)
      # Page tables and kernel stacks grow with processes and threads: shown, not counted.
      OUTSIDE = %i[host_sunreclaim_bytes host_shmem_bytes].freeze
      # Growth smaller than this over the whole recording is noise, whatever its rate
      # (a short recording turns a few pages into a big hourly rate).
      MIN_GROWTH = { process: 1024 * 1024, outside: 8 * 1024 * 1024 }.freeze
      GRID = 600

      # A process's growth: +rate+ and bounds are bytes per hour.
      Entry = Struct.new(:pid, :start_time, :command, :rate, :low, :high, :first_rss, :last_rss, :pss,
                         :first_seen, :last_seen, :samples, :alive, :growing, keyword_init: true)

      attr_reader :entries, :host, :t_min, :t_max, :host_samples

      # call-seq:
      #   Ranking.new(rows, interval:, skip_start: nil, min_samples: 5) -> ranking
      #
      # +skip_start+ seconds after a process starts are ignored (start-up is not a leak);
      # default 10 intervals. Processes seen at fewer than +min_samples+ host samples after
      # that are not ranked.
      def initialize(rows, interval: nil, skip_start: nil, min_samples: 5, floor: 1024 * 1024)
        @interval = interval || 5.0
        @skip = skip_start || 10 * @interval
        @min_samples = min_samples
        @floor = floor
        host_rows = rows.select { |r| r[:type] == "host" }
        @host_samples = host_rows.size
        @t_min, @t_max = host_rows.map { |r| r[:tick] }.minmax
        @exited = rows.select { |r| r[:type] == "exit" }.to_h { |r| [[r[:pid], r[:start_time]], r[:tick]] }
        @grid = grid(host_rows.map { |r| r[:tick] }.sort)
        @entries = rank(rows.select { |r| r[:type] == "process" })
        @host = host_growth(host_rows)
      end

      # call-seq:
      #   ranking.growing -> Array of Entry
      def growing
        entries.select(&:growing)
      end

      # call-seq:
      #   ranking.outside? -> true or false
      #
      # Memory outside every process's RSS (unreclaimable kernel slab, shmem/tmpfs, page
      # tables, kernel stacks) grows significantly.
      def outside?
        out = host[:outside] or return false
        out[:low] > floor_for(host[:used_last]) && grown(out[:rate], @t_max - @t_min) >= MIN_GROWTH[:outside]
      end

      # call-seq:
      #   ranking.series(entry) -> Array of [tick, rss_bytes]
      #
      # The process's RSS on the host's sample times, from its first row until it exited
      # (rows skipped while RSS stayed put are filled in): what a chart should draw.
      def series(entry)
        rows = @by_key.fetch([entry.pid, entry.start_time], []).select { |r| r[:rss_bytes] }
        rows.empty? ? [] : filled(rows, @exited[[entry.pid, entry.start_time]] || @t_max)
      end

      private

      def rank(rows)
        @by_key = rows.group_by { |r| [r[:pid], r[:start_time]] }
        @by_key.filter_map { |key, list| entry(key, list) }
            .sort_by { |e| [-e.low, -e.rate] }
      end

      def entry((pid, start), list)
        alive_from = (start || 0) + @skip
        kept = list.select { |r| r[:tick] >= alive_from && r[:rss_bytes] }
        return nil if kept.empty?

        points = filled(kept, @exited[[pid, start]] || @t_max)
        return nil if points.size < @min_samples

        fit = CLI::Trend.fit(points.map(&:first), points.map(&:last)) or return nil
        build(pid, start, list, kept, fit)
      end

      # The recorder skips a process's row while its RSS stays put, so a plateau has few
      # rows; carrying each value forward on the host's sample times until the process
      # exits puts the plateau back, and the slope sees growth that stopped as stopped.
      def filled(kept, until_tick)
        i = 0
        @grid.filter_map do |t|
          next if t < kept.first[:tick] || t > until_tick

          i += 1 while i + 1 < kept.size && kept[i + 1][:tick] <= t
          [t, kept[i][:rss_bytes]]
        end
      end

      # At most GRID evenly spread host sample times: enough for a slope, cheap for days.
      def grid(ticks)
        step = [ticks.size.fdiv(GRID), 1].max
        (0...[ticks.size, GRID].min).map { |k| ticks[(k * step).floor] }
      end

      def build(pid, start, list, kept, fit)
        low = fit.low ? fit.low * HOUR : -Float::INFINITY
        Entry.new(pid: pid, start_time: start, command: list.last[:command], rate: fit.slope * HOUR, low: low,
                  high: fit.high ? fit.high * HOUR : Float::INFINITY, first_rss: kept.first[:rss_bytes], last_rss: kept.last[:rss_bytes],
                  pss: list.reverse_each.find { |r| r[:pss_bytes] }&.dig(:pss_bytes),
                  first_seen: list.first[:tick], last_seen: @exited[[pid, start]] || @t_max, samples: kept.size,
                  alive: !@exited.key?([pid, start]), growing: growing?(low, fit.slope * HOUR, kept))
      end

      def growing?(low, rate, kept)
        low > floor_for(kept.last[:rss_bytes]) && grown(rate, kept.last[:tick] - kept.first[:tick]) >= MIN_GROWTH[:process]
      end

      def grown(per_hour, seconds)
        per_hour * seconds / HOUR
      end

      def floor_for(bytes)
        [@floor, bytes.to_i / 200].max # 1 MiB/h, or 0.5% of the size per hour
      end

      def host_growth(rows)
        rows.each { |r| r[:host_used_bytes] = r[:host_mem_total_bytes] - r[:host_mem_available_bytes] if r[:host_mem_total_bytes] && r[:host_mem_available_bytes] }
        rows.each { |r| r[:outside_bytes] = OUTSIDE.sum { |c| r[c].to_i } if r[:host_sunreclaim_bytes] }
        parts = COMPONENTS.keys.to_h { |c| [c, slope(rows, c)] }.compact
        { used: slope(rows, :host_used_bytes), used_last: rows.last&.dig(:host_used_bytes),
          processes: slope(rows, :procs_rss_bytes), outside: slope(rows, :outside_bytes),
          components: parts, cgroup: slope(rows, :cgroup_usage_bytes) }
      end

      def slope(rows, column)
        pts = rows.filter_map { |r| [r[:tick], r[column]] if r[column] }
        fit = CLI::Trend.fit(pts.map(&:first), pts.map(&:last)) or return nil
        { rate: fit.slope * HOUR, low: fit.low ? fit.low * HOUR : -Float::INFINITY,
          high: fit.high ? fit.high * HOUR : Float::INFINITY, first: pts.first.last, last: pts.last.last }
      end
    end
  end
end
