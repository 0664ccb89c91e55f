# frozen_string_literal: true

module Memwatch
  class Attribution
    # Turns recorded intervals into regression inputs: one row of per-route request
    # counts (plus the interval's length, for growth that no request explains) and the
    # change of each signal over the interval.
    #
    # Signals (per interval, nil when not measurable then):
    #   rss       anonymous RSS (what the process grew)
    #   malloc    allocator allocated bytes at the sampler tick that closed the interval
    #   old       old objects (not read mid-marking, where the count is partial)
    #   retained  RSS outside the Ruby heap's pages + old objects * slot size: what
    #             requests keep, without the steps of heap-page allocation (pages come
    #             in batches at GC time, whoever allocated)
    #   allocated objects allocated (exact globally; the regression splits it by route)
    class Design
      SLOT = GC::INTERNAL_CONSTANTS[:RVALUE_SIZE] || GC::INTERNAL_CONSTANTS[:BASE_SLOT_SIZE] || 40
      MAX_COLUMNS = 30
      MAX_ROWS = 360
      MIN_ROWS = 8
      MIN_BLOCK_SECONDS = 3.0
      I = Probe::INDEX

      attr_reader :keys, :rows, :deltas, :seconds

      # +intervals+: [[reading_open, reading_close, {key => count}], ...]; +scale+
      # multiplies counts (1 in N sampling).
      def initialize(intervals, scale: 1)
        @keys = top_keys(intervals)
        blocks = coarsen(intervals)
        @seconds = blocks.sum { |a, b, _| b[I[:mono]] - a[I[:mono]] }
        @rows = blocks.map { |a, b, counts| row(a, b, counts, scale) }
        @deltas = %i[rss malloc old retained allocated heap].to_h { |s| [s, blocks.map { |a, b, _| delta(s, a, b) }] }
      end

      # Column names: the route keys, then "(other routes)" when some were merged, then
      # "(no request)" (growth per second not explained by requests).
      def columns = @columns ||= [*@keys, *(@merged ? [Recorder::OTHER] : []), "(no request)"]

      # call-seq:
      #   design.system(signal) -> [rows, y] with the intervals where +signal+ is known
      def system(signal)
        pairs = @rows.zip(@deltas.fetch(signal)).reject { |_, y| y.nil? }
        [pairs.map(&:first), pairs.map(&:last)]
      end

      private

      # The busiest routes get a column each; the rest share one, to keep the fit small.
      def top_keys(intervals)
        totals = Hash.new(0)
        intervals.each { |_, _, c| c.each { |k, n| totals[k] += n } }
        ranked = totals.sort_by { |k, n| [-n, k] }.map(&:first)
        @merged = ranked.size > MAX_COLUMNS
        @index = ranked.first(MAX_COLUMNS).each_with_index.to_h
        ranked.first(MAX_COLUMNS)
      end

      # Joins neighbouring intervals into blocks: at most MAX_ROWS of them (a
      # long window at a short interval), each at least MIN_BLOCK_SECONDS long
      # while that leaves two rows per unknown. Why a minimum: what a request
      # retains shows up later than the request (its objects turn old a few
      # GCs on, malloc'd memory reaches RSS when pages are touched), so 1 s
      # rows charge part of a leaking route's growth to whichever routes ran
      # in the next second. On ten_routes.ru under load, 1 s rows made a clean
      # route a suspect in 1 run of 3 (t = 3.9); 3 s rows did not, and brought
      # the leaking route's estimate closer to the truth. Summed counts keep
      # what the fit uses.
      def coarsen(intervals)
        return intervals if intervals.empty?

        per = [(intervals.size.to_f / MAX_ROWS).ceil, [min_block(intervals), max_block(intervals)].min].max
        return intervals if per <= 1

        intervals.each_slice(per).map do |sl|
          [sl.first[0], sl.last[1], sl.each_with_object(Hash.new(0)) { |(_, _, c), h| c.each { |k, n| h[k] += n } }]
        end
      end

      def min_block(intervals)
        span = intervals.last[1][I[:mono]] - intervals.first[0][I[:mono]]
        mean = span / intervals.size
        mean.positive? ? (MIN_BLOCK_SECONDS / mean).ceil : 1
      end

      # Blocks no longer than leaves two rows per column (and MIN_ROWS rows).
      def max_block(intervals) = [intervals.size / [2 * columns.size, MIN_ROWS].max, 1].max

      def row(a, b, counts, scale)
        r = Array.new(columns.size, 0.0)
        counts.each { |k, n| r[@index.fetch(k, columns.size - 2)] += n * scale }
        r[-1] = b[I[:mono]] - a[I[:mono]]
        r
      end

      def delta(signal, a, b)
        case signal
        when :old then old_delta(a, b)
        when :retained then retained_delta(a, b)
        when :heap then diff(a, b, :heap_pages)
        else diff(a, b, signal == :rss ? :rss_anon : signal)
        end
      end

      def diff(a, b, name)
        x = a[I[name]]
        y = b[I[name]]
        x && y ? (y - x).to_f : nil
      end

      # Intervals with a major GC stay in: the old garbage it frees was counted when
      # it was promoted, so leaving them out would charge routes for short-lived data.
      def old_delta(a, b) = diff(a, b, :old_objects)

      def retained_delta(a, b)
        old = old_delta(a, b) or return nil
        rss = diff(a, b, :rss_anon) or return nil
        rss - diff(a, b, :heap_pages) + old * SLOT
      end
    end
  end
end
