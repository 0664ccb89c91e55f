# frozen_string_literal: true

module Memwatch
  # The measurement a HeapWalk child runs (see heap_walk.rb for the method
  # and its cost).
  class HeapWalk
    # call-seq:
    #   HeapWalk.measure -> Hash
    #
    # The walk itself: {ruby_malloc_bytes:, objects:, memsize_bytes:,
    # seconds:}. Holds the GVL throughout: call it in a child (or a test).
    def self.measure
      require "objspace"
      t0 = Process.clock_gettime(Process::CLOCK_MONOTONIC)
      GC.start(full_mark: true, immediate_sweep: true)
      objects = 0
      memsize = 0
      footprint = 0
      slot = GC::INTERNAL_CONSTANTS[:RVALUE_SIZE] || GC::INTERNAL_CONSTANTS[:BASE_SLOT_SIZE] || 40
      chunk = chunk_rounding
      ObjectSpace.each_object do |o|
        # A Thread reports its VM stack, which lives on the thread's machine
        # stack (alloca), not in malloc (research §4): leave Threads out.
        next if Thread === o

        size = ObjectSpace.memsize_of(o)
        objects += 1
        memsize += size
        footprint += chunk.call(size - slot) if size > slot
      end
      { ruby_malloc_bytes: footprint, ruby_malloc_payload_bytes: [memsize - slot_bytes(objects), 0].max,
        objects: objects, memsize_bytes: memsize, seconds: Process.clock_gettime(Process::CLOCK_MONOTONIC) - t0 }
    end

    # What the allocator spends on a buffer of n bytes. memsize_of counts the
    # bytes Ruby asked for; the allocator's figures (glibc in-use, jemalloc
    # allocated) count whole chunks, and for the many small buffers of a
    # typical Ruby leak (interpolated strings, small arrays) the difference
    # is up to 2x. Without it, the Ruby-owned share is undercounted and the
    # rest is mistaken for a native leak. An object with several buffers is
    # counted as one: an approximation that errs towards "native".
    def self.chunk_rounding
      allocator = defined?(Memwatch::Native) ? Memwatch.allocator : "glibc"
      return method(:jemalloc_class).to_proc if allocator == "jemalloc"

      ->(n) { [(n + 8 + 15) & ~15, 32].max } # glibc: 8-byte header, 16-byte alignment, 32 minimum
    end

    # jemalloc size classes: 8, 16, then four classes per doubling.
    def self.jemalloc_class(n)
      return 8 if n <= 8
      return (n + 15) & ~15 if n <= 128

      step = 1 << ((n - 1).bit_length - 3)
      (n + step - 1) / step * step
    end

    # Slot bytes of the +objects+ walked. Ruby 3.1 has one slot size; 3.2+
    # has size pools, and memsize_of counts each object's own slot, which
    # Ruby does not expose per object: the walked objects are given the
    # average slot size of the live heap (an approximation; offsets cancel in
    # the growth rates the classifier uses).
    def self.slot_bytes(objects)
      consts = GC::INTERNAL_CONSTANTS
      return objects * consts[:RVALUE_SIZE] if consts[:RVALUE_SIZE] && !GC.respond_to?(:stat_heap)

      heaps = GC.stat_heap.values
      live = heaps.sum { |h| h[:total_allocated_objects].to_i - h[:total_freed_objects].to_i }
      bytes = heaps.sum { |h| h[:slot_size].to_i * (h[:total_allocated_objects].to_i - h[:total_freed_objects].to_i) }
      live.positive? ? objects * bytes / live : objects * (consts[:BASE_SLOT_SIZE] || 40)
    end
  end
end
