# frozen_string_literal: true

require "memwatch/heap/rows"

module Memwatch
  module Heap
    # The retained set of three dumps A, B, C (the result of Heap.diff): objects born
    # after A, alive in B and still alive in C, by allocation site and class.
    #
    # Identity: objects with a generation (allocation tracing on) are matched by
    # generation, which compaction does not change; only the boundary generations need
    # (address, type), and within one GC epoch a slot is never reused. Objects without a
    # generation fall back to addresses (heapy's method): compaction and slot reuse can
    # then add or hide objects; #retained_by_address says how many such matches there are.
    class Diff
      attr_reader :paths, :objects, :max_generations, :retained_by_address, :thresholds, :threshold_source

      def initialize(paths, raw, source: :inferred)
        @paths = paths
        @raw = raw
        @thresholds = raw[:thresholds]
        @threshold_source = source
        @objects = raw[:objects]
        @max_generations = raw[:max_generation]
        @retained_by_address = raw[:retained_by_address]
      end

      # call-seq: diff.retained(sort: :bytes, top: nil) -> Array of Site
      def retained(sort: :bytes, top: nil) = Rows.sites(@raw[:retained][:rows], sort: sort, top: top)

      # Born after A and alive in B (retained or not): B's new objects.
      def allocated(sort: :bytes, top: nil) = Rows.sites(@raw[:allocated][:rows], sort: sort, top: top)

      def retained_count = total(:retained, 3)
      def retained_bytes = total(:retained, 4)
      def allocated_count = total(:allocated, 3)
      def allocated_bytes = total(:allocated, 4)

      # How objects were matched: :generation, :address, :mixed or :none (nothing retained).
      def identity
        return :none if retained_count.zero?
        return :generation if retained_by_address.zero?

        retained_by_address == retained_count ? :address : :mixed
      end

      # Human caveats for the report: what could make this diff wrong.
      def caveats
        notes = []
        if max_generations.compact.empty?
          notes << "no dump carries generations (allocation tracing was off): objects were " \
                   "matched by address, which compaction and slot reuse can fool"
        elsif retained_by_address.positive?
          notes << "#{retained_by_address} retained objects had no generation and were matched by address"
        end
        if threshold_source == :inferred && retained_count.positive?
          notes << "the GC counts at dumps A and B were inferred (no manifests beside the dumps): if the " \
                   "dumping process ran a GC of its own (a forked dump with gc=1), objects born just after " \
                   "B may be counted as retained; `memwatch heap capture` records them"
        end
        notes << "#{lost} objects went past max_keys and are not itemised" if lost.positive?
        notes
      end

      def lost = @raw[:retained][:lost_count] + @raw[:allocated][:lost_count]

      # call-seq: diff.to_h(top: 20, sort: :bytes) -> Hash (JSON-ready)
      def to_h(top: 20, sort: :bytes)
        { kind: "heap_diff", paths: paths, objects: objects, max_generations: max_generations,
          generation_thresholds: thresholds, thresholds_from: threshold_source,
          identity: identity, retained_by_address: retained_by_address,
          allocated: { count: allocated_count, bytes: allocated_bytes },
          retained: { count: retained_count, bytes: retained_bytes },
          caveats: caveats, retained_sites: retained(sort: sort, top: top).map(&:to_h) }
      end

      private

      def total(table, index)
        raw = @raw[table]
        raw[:rows].sum { |r| r[index] } + raw[index == 3 ? :lost_count : :lost_bytes]
      end
    end
  end
end
