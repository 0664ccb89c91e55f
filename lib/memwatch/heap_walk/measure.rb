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
      ObjectSpace.each_object do |o|
        # A Thread reports its VM stack, which lives on the thread's machine
        # stack (alloca), not in malloc (research §4): leave Threads out.
        next if Thread === o

        objects += 1
        memsize += ObjectSpace.memsize_of(o)
      end
      { ruby_malloc_bytes: [memsize - slot_bytes(objects), 0].max, objects: objects, memsize_bytes: memsize,
        seconds: Process.clock_gettime(Process::CLOCK_MONOTONIC) - t0 }
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
