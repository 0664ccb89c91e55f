# frozen_string_literal: true

module Memwatch
  class Classifier
    # Picks the rows a classification uses: sample rows (other row types
    # skipped), checked, in tick order, of the last +horizon+ seconds, and of
    # the current process only. GC counters never drop within one process (a
    # fork child inherits them), so a drop between valid rows means the rest
    # of the series comes from another process — a child whose series started
    # over, or logs joined end to end.
    module Rows # :nodoc:
      module_function

      # call-seq:
      #   Rows.prepare(samples, horizon) -> [rows, resets, rows_dropped]
      #
      # Raises ArgumentError for a non-Hash row or a non-numeric tick.
      def prepare(samples, horizon)
        after_last_reset(within(samples, horizon))
      end

      # The rows of the last +horizon+ seconds, validated and in tick order.
      # Input is normally sorted, so the cut is a binary search and only the
      # kept rows are checked (the classifier runs on a serving process).
      def within(samples, horizon)
        offset = horizon ? cut(samples, horizon) : 0
        rows, sorted = clean(samples, offset)
        rows, = clean(samples, 0) unless sorted
        return rows if rows.empty? || !horizon

        limit = rows.last[:tick] - horizon
        rows.drop_while { |r| r[:tick] < limit }
      end

      # Index of the first row within +horizon+ of the last (0 when unsure).
      def cut(samples, horizon)
        last = samples.last
        return 0 unless last.is_a?(Hash) && last[:tick].is_a?(Numeric)

        limit = last[:tick] - horizon
        samples.bsearch_index { |s| !s.is_a?(Hash) || !s[:tick].is_a?(Numeric) || s[:tick] >= limit } || 0
      end

      # Sample rows from +offset+ on, checked; [rows, sorted?].
      def clean(samples, offset)
        rows = []
        sorted = true
        prev = -Float::INFINITY
        i = offset
        while i < samples.size
          s = samples[i]
          raise ArgumentError, "sample #{i} must be a Hash, got #{s.class}" unless s.is_a?(Hash)

          type = s[:type]
          if type.nil? || type == "sample"
            t = s[:tick]
            raise ArgumentError, "sample #{i}: tick must be a number, got #{t.inspect}" unless t.is_a?(Numeric)

            sorted = false if t < prev
            prev = t
            rows << s
          end
          i += 1
        end
        [sorted ? rows : rows.each_with_index.sort_by { |r, k| [r[:tick], k] }.map(&:first), sorted]
      end

      # Keep the rows after the last drop of a GC counter between valid rows.
      # Rows with zeroed or missing counters (a fresh fork before its first
      # GC read) are not resets; Derive ignores their GC-derived values.
      def after_last_reset(rows)
        resets = 0
        start = 0
        prev_count = prev_total = nil
        rows.each_with_index do |r, i|
          count, total, pages = r.values_at(:count, :total_allocated_objects, :heap_allocated_pages)
          next unless pages.is_a?(Integer) && pages.positive?

          if (count.is_a?(Integer) && prev_count && count < prev_count) ||
             (total.is_a?(Integer) && prev_total && total < prev_total)
            start = i
            resets += 1
          end
          prev_count = count if count.is_a?(Integer)
          prev_total = total if total.is_a?(Integer)
        end
        [rows[start..], resets, start]
      end
    end
  end
end
