# frozen_string_literal: true

module Memwatch
  class Attribution
    # The process-wide figures read when an interval closes (about once a second, never
    # per request): anonymous RSS from a kept-open /proc/self/statm (~1.5 µs), a few
    # single-key GC.stat reads (~25 ns each), and the allocator's allocated bytes from
    # the sampler's latest ring sample when memwatch is running (no extra syscall).
    # The recorder closes intervals just after a sampler tick, so that sample is fresh.
    # No call here takes the sampler's C lock for long: Memwatch.stats is never polled.
    class Probe
      SIGNALS = %i[mono rss_anon heap_pages old_objects allocated gc_count major_gc_count malloc].freeze
      INDEX = SIGNALS.each_with_index.to_h.freeze
      PAGE = 4096
      HEAP_PAGE = GC::INTERNAL_CONSTANTS[:HEAP_PAGE_SIZE] || 16_384
      MALLOC_KEYS = %i[je_allocated_bytes glibc_in_use_bytes].freeze

      def initialize
        @pid = nil
        @statm = nil
      end

      # call-seq:
      #   probe.read -> Array of numbers in SIGNALS order (malloc may be nil)
      def read
        [Process.clock_gettime(Process::CLOCK_MONOTONIC), rss_anon,
         GC.stat(:heap_allocated_pages) * HEAP_PAGE, old_objects,
         GC.stat(:total_allocated_objects), GC.stat(:count), GC.stat(:major_gc_count), malloc]
      end

      # The epoch time of the sampler tick behind the latest #read (nil when none).
      attr_reader :last_tick_epoch

      # The sampler's interval in seconds (1.0 when it is not running).
      def sampler_interval
        (Memwatch.running? && Memwatch.config&.dig(:interval)) || 1.0
      rescue StandardError
        1.0
      end

      # old_objects is recounted while a major GC marks (incrementally, between
      # requests): a value read then is partial, so it is not used.
      def old_objects
        GC.latest_gc_info(:state) == :marking ? nil : GC.stat(:old_objects)
      end

      # Anonymous RSS (resident - shared = RssAnon): file-backed pages are not growth.
      # The fd is reopened after a fork, where /proc/self would still be the parent.
      def rss_anon
        statm.pread(128, 0).split(" ", 4).then { |f| (Integer(f[1]) - Integer(f[2])) * PAGE }
      rescue SystemCallError, IOError, ArgumentError, TypeError
        @statm = nil
        nil
      end

      def close
        @statm&.close
        @statm = nil
      end

      private

      def statm
        return @statm if @statm && @pid == Process.pid

        @statm&.close
        @pid = Process.pid
        @statm = File.open("/proc/self/statm", "rb")
      end

      # Allocated bytes per the allocator, as of the sampler's latest tick (up to one
      # sampler interval old): nil when memwatch is not sampling.
      def malloc
        @last_tick_epoch = nil
        return nil unless defined?(Memwatch.running?) && Memwatch.running?

        latest = Memwatch.samples(limit: 1).first or return nil
        @last_tick_epoch = latest[:tick]
        MALLOC_KEYS.each { |k| return latest[k] if latest[k] }
        nil
      rescue StandardError
        nil
      end
    end
  end
end
