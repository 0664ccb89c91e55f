# frozen_string_literal: true

module Memwatch
  class Classifier
    # Turns an Array of sample Hashes (doc/internals.md "A sample") into the
    # signals the rules look at (Derive::NAMES), kept as minima over fixed
    # +grain+-second buckets, and serves floor envelopes of them. Which rows
    # count (this process's, of the last +horizon+ seconds) is Rows' job.
    class Signals # :nodoc:
      attr_reader :ticks, :allocator, :resets, :dropped, :purges

      # call-seq:
      #   Signals.new(samples, purges: [], horizon: nil, grain: 5) -> signals
      #
      # Raises ArgumentError for input that is not an Array of Hashes with
      # numeric ticks, or with a non-numeric value in a field it reads.
      def initialize(samples, purges: [], horizon: nil, grain: 5.0)
        raise ArgumentError, "samples must be an Array of Hashes, got #{samples.class}" unless samples.is_a?(Array)

        rows, @resets, @dropped = Rows.prepare(samples, horizon)
        @ticks = rows.map { |r| r[:tick].to_f }
        @purges = purges
        @grain = grain.to_f
        @allocator = detect_allocator(rows)
        build(rows)
      end

      def empty?
        @ticks.empty?
      end

      def size
        @ticks.size
      end

      def first_tick
        @ticks.first
      end

      def last_tick
        @ticks.last
      end

      # call-seq:
      #   signals.span -> seconds between the first and the last row
      def span
        empty? ? 0.0 : @ticks.last - @ticks.first
      end

      # call-seq:
      #   signals.index_range(from, to) -> Range of row indices with from <= tick <= to
      def index_range(from, to)
        lo = @ticks.bsearch_index { |t| t >= from } || @ticks.size
        hi = (@ticks.bsearch_index { |t| t > to } || @ticks.size) - 1
        lo..hi
      end

      # call-seq:
      #   signals.floors(name, from, to, width) -> [hours, values]
      #
      # The floor envelope: the minimum of each +width+-second bucket of
      # [from, to] (empty buckets left out). Minima are the post-GC,
      # post-burst level, so one GC or one burst cannot fake a trend. Times
      # are hours since +from+, so slopes come out per hour.
      def floors(name, from, to, width)
        times, vals = @grains.fetch(name)
        lo = times.bsearch_index { |t| t >= from } || times.size
        mins = {}
        i = lo
        while i < times.size && times[i] <= to
          k = ((times[i] - from) / width).to_i
          m = mins[k]
          mins[k] = vals[i] if m.nil? || vals[i] < m
          i += 1
        end
        keys = mins.keys.sort
        [keys.map { |k| (k + 0.5) * width / 3600.0 }, keys.map { |k| mins[k] }]
      end

      # call-seq:
      #   signals.points(:rmalloc, from, to) -> [hours, values]
      #
      # The heap-walk results (ruby_malloc_bytes) in [from, to], thinned
      # evenly to at most +max+ (walks are rare, but a log may hold many).
      def points(_name, from, to, max: 40)
        sel = @walks.select { |t, _| t >= from && t <= to }
        sel = (0...max).map { |k| sel[k * sel.size / max] } if sel.size > max
        [sel.map { |t, _| (t - from) / 3600.0 }, sel.map(&:last)]
      end

      # call-seq:
      #   signals.walk_count(from, to) -> Integer
      def walk_count(from, to)
        @walks.count { |t, _| t >= from && t <= to }
      end

      # Purges within [from, to]; a purge without a tick happened after the
      # last row, so it belongs to windows that end there.
      def purges_between(from, to)
        @purges.select do |p|
          p[:tick] ? p[:tick] >= from && p[:tick] <= to : to >= @ticks.last.to_f
        end
      end

      # Short, so an error message never dumps the whole series.
      def inspect
        "#<#{self.class.name} #{size} rows, #{@allocator}>"
      end

      private

      # One pass: derive every signal per row; each grain's rows are then
      # reduced to per-signal minima with C-level Array methods (transpose,
      # compact, min), which keeps this hot loop short.
      def build(rows)
        n = Derive::NAMES.size
        times = Array.new(n) { [] }
        mins = Array.new(n) { [] }
        @walks = []
        je = @allocator == "jemalloc"
        purged = !@purges.empty?
        t0 = @ticks.first
        group = []
        at = nil
        rows.each_with_index do |r, i|
          tick = @ticks[i]
          g = ((tick - t0) / @grain).floor * @grain + t0 + @grain / 2
          if g != at
            flush(times, mins, at, group) unless group.empty?
            at = g
            group = []
          end
          group << Derive.row(r.values_at(*Derive::KEYS), purged ? released_before(tick) : 0, je)
          walk = r[:ruby_malloc_bytes]
          @walks << [tick, walk.to_f] if walk
        end
        flush(times, mins, at, group) unless group.empty?
        raise TypeError unless mins.all? { |m| m.all?(Numeric) }

        @grains = Derive::NAMES.each_with_index.to_h { |name, j| [name, [times[j], mins[j]]] }
      rescue NoMethodError, TypeError, ArgumentError
        raise ArgumentError, bad_value(rows)
      end

      def flush(times, mins, at, group)
        low = group.size == 1 ? group[0] : group.transpose.map! { |col| col.compact.min }
        j = 0
        while j < low.size
          v = low[j]
          if v
            times[j] << at
            mins[j] << v
          end
          j += 1
        end
      end

      def released_before(tick)
        return 0 if @purges.empty?

        @purges.sum { |p| p[:tick] && p[:tick] <= tick ? p[:released_bytes] : 0 }
      end

      def bad_value(rows)
        rows.each do |r|
          (Derive::KEYS + [:ruby_malloc_bytes]).each do |k|
            v = r[k]
            next if v.nil? || v.is_a?(Numeric)

            return "sample at tick #{r[:tick]}: #{k} must be a number or nil, got #{v.inspect}"
          end
        end
        "samples hold values that are not numbers"
      end

      def detect_allocator(rows)
        probe = rows.last(50)
        return "jemalloc" if probe.any? { |r| r.key?(:je_allocated_bytes) }
        return "glibc" if probe.any? { |r| r.key?(:glibc_in_use_bytes) }

        "unknown"
      end
    end
  end
end

require_relative "derive"
require_relative "rows"
