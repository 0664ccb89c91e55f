# frozen_string_literal: true

require "memwatch/cli/trend"

module Memwatch
  module CLI
    # first / last / min / max and growth per hour of the columns worth reading in a log.
    module Figures
      # column => [label, :bytes | :count]; only columns with values are reported.
      COLUMNS = {
        rss_bytes: ["RSS", :bytes],
        pss_bytes: ["PSS", :bytes],
        uss_bytes: ["USS", :bytes],
        rss_anon_bytes: ["anon RSS", :bytes],
        swap_bytes: ["swap", :bytes],
        ruby_heap_bytes: ["Ruby heap", :bytes],
        ruby_malloc_bytes: ["Ruby-owned malloc", :bytes],
        heap_live_slots: ["live slots", :count],
        old_objects: ["old objects", :count],
        je_allocated_bytes: ["jemalloc allocated", :bytes],
        je_active_bytes: ["jemalloc active", :bytes],
        je_resident_bytes: ["jemalloc resident", :bytes],
        je_retained_bytes: ["jemalloc retained", :bytes],
        glibc_in_use_bytes: ["glibc in use", :bytes],
        glibc_free_bytes: ["glibc free", :bytes],
        glibc_arena_bytes: ["glibc arena", :bytes],
        threads: ["threads", :count],
        cgroup_usage_bytes: ["cgroup usage", :bytes],
        host_used_bytes: ["host used", :bytes],
        host_mem_available_bytes: ["host available", :bytes],
        host_slab_bytes: ["host slab", :bytes],
        host_sunreclaim_bytes: ["host slab unreclaimable", :bytes],
        procs_rss_bytes: ["all processes' RSS", :bytes]
      }.freeze

      # One column's figures; per_hour is the Theil–Sen slope of the floor envelope.
      Figure = Struct.new(:column, :label, :unit, :first, :last, :min, :max, :per_hour, keyword_init: true) do
        def to_h
          super.reject { |k, _| %i[label unit].include?(k) }
        end
      end

      module_function

      # call-seq:
      #   Figures.of(rows) -> Array of Figure
      def of(rows)
        COLUMNS.filter_map do |column, (label, unit)|
          points = rows.filter_map { |r| [r[:tick], r[column]] if r[column] }
          next if points.empty?

          figure(column, label, unit, points)
        end
      end

      def figure(column, label, unit, points)
        values = points.map(&:last)
        fit = Trend.fit(points.map(&:first), values)
        Figure.new(column: column, label: label, unit: unit, first: values.first, last: values.last,
                   min: values.min, max: values.max, per_hour: fit && (fit.slope * 3600).round)
      end
    end
  end
end
