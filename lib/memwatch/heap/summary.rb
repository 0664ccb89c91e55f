# frozen_string_literal: true

require "memwatch/heap/rows"

module Memwatch
  module Heap
    # What one heap dump holds (the result of Heap.summary). Bytes are dump_all's
    # "memsize": the slot plus the malloc'd memory Ruby knows the object owns.
    class Summary
      attr_reader :path, :objects, :bytes, :traced, :roots, :max_generation, :skipped

      def initialize(path, raw)
        @path = path
        @raw = raw
        @objects, @bytes, @traced, @roots, @skipped, @max_generation =
          raw.values_at(:objects, :bytes, :traced, :roots, :skipped, :max_generation)
      end

      # True when some objects carry an allocation site (tracing was on for them).
      def traced? = @traced.positive?

      # call-seq: summary.by_type(sort: :bytes, top: nil) -> Array of Row
      def by_type(sort: :bytes, top: nil) = Rows.rows(table(:by_type), sort: sort, top: top)

      # call-seq: summary.by_class(sort: :bytes, top: nil) -> Array of Row
      #
      # Objects without a class of their own (IMEMO, NODE...) are grouped as "(TYPE)".
      def by_class(sort: :bytes, top: nil) = Rows.rows(table(:by_class), sort: sort, top: top)

      # call-seq: summary.by_generation -> Array of Row, oldest first (key nil: untraced)
      def by_generation
        table(:by_generation).map { |g, count, bytes| Row.new(g, count, bytes) }.sort_by { |r| r.key || -1 }
      end

      # call-seq: summary.by_site(sort: :bytes, top: nil) -> Array of Site
      def by_site(sort: :bytes, top: nil) = Rows.sites(table(:by_site), sort: sort, top: top)

      # Objects counted but not categorised because a table hit max_keys.
      def lost = %i[by_type by_class by_site].sum { |t| @raw[t][:lost_count] }

      # call-seq: summary.to_h(top: 20, sort: :bytes) -> Hash (JSON-ready)
      def to_h(top: 20, sort: :bytes)
        { kind: "heap_summary", path: path, objects: objects, bytes: bytes, traced_objects: traced,
          roots: roots, max_generation: max_generation, lost_objects: lost, skipped_objects: skipped,
          by_type: by_type(sort: sort, top: top).map(&:to_h),
          by_class: by_class(sort: sort, top: top).map(&:to_h),
          by_generation: by_generation.map(&:to_h),
          by_site: by_site(sort: sort, top: top).map(&:to_h) }
      end

      private

      def table(name) = @raw[name][:rows]
    end
  end
end
