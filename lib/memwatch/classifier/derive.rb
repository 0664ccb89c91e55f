# frozen_string_literal: true

module Memwatch
  class Classifier
    # The derived signals of one sample row, in one pass (the classifier
    # must stay within a few milliseconds for thousands of rows, so a row is
    # read with one values_at and no intermediate Hashes).
    #
    #   used       anon minus the empty part of the Ruby heap (see below)
    #   anon       anonymous RSS + swap (a swapped-out leak is still a leak)
    #   rss        VmRSS
    #   heap       Ruby heap pages (mmap'd: outside the allocator's figures)
    #   live       heap bytes in slots marked by the last GC (post-GC live heap)
    #   old        old_objects (post-GC)
    #   alloc      allocator allocated (jemalloc) / in use (glibc)
    #   overhead   held but unused: jemalloc resident − allocated, glibc free in arenas
    #   frag       jemalloc active − allocated (pages pinned by partly used runs)
    #   dirty      jemalloc resident − active (freed pages awaiting decay)
    #   other      anon not explained by heap + allocator (native mmaps, stacks)
    #   kernel     host unreclaimable slab (else all slab)
    #   host_avail host MemAvailable
    #   threads    thread count
    #
    # "used" is what Question 1 watches: Ruby grows its heap ×1.8 at a time
    # when it fills up, so anon RSS climbs a Ruby-object leak in a few big
    # steps while live slots climb it smoothly; empty heap pages are
    # retention, not growth. GC-derived values count only when the counters
    # were read (heap_allocated_pages > 0: a fresh fork may carry zeros), and
    # live/old/used only outside a GC's marking phase (gc_state).
    # Bytes released by allocator purges are added back to RSS figures after
    # each purge, so a purge does not look like the end of a leak.
    module Derive # :nodoc:
      NAMES = %i[used anon rss heap live old alloc overhead frag dirty other kernel host_avail threads].freeze
      KEYS = %i[rss_bytes rss_anon_bytes swap_bytes ruby_heap_bytes heap_marked_slots heap_available_slots
                heap_allocated_pages old_objects je_allocated_bytes je_active_bytes je_resident_bytes
                glibc_in_use_bytes glibc_free_bytes glibc_arena_bytes glibc_mmap_bytes
                host_sunreclaim_bytes host_slab_bytes host_mem_available_bytes threads gc_state].freeze

      module_function

      # call-seq:
      #   Derive.row(values, released, jemalloc) -> Array (one value per NAMES entry, nil = unknown)
      #
      # +values+ is row.values_at(*KEYS); +released+ the purge bytes to add back.
      def row(v, released, jemalloc)
        rss, ranon, swap, rheap, marked, avail, pages, oldo, ja, jact, jres, gin, gfree, garena, gmmap,
          sunrec, slab, havail, threads, gc_state = v
        base = ranon || rss
        anon = base && base + (swap || 0) + released
        gc = pages && pages.positive?
        heap = gc && rheap ? rheap.to_f : nil
        # Mid-marking (gc_state 1, an incremental major GC) heap_marked_slots
        # and old_objects are partial counts that would read as a collapse of
        # live data; those rows give no live/old figure (the floor of a
        # bucket would otherwise pick the dip).
        marking = gc_state == 1
        live = !marking && heap && marked && avail && avail.positive? ? heap * marked / avail : nil
        used = anon && (live ? anon - heap + live : (marking ? nil : anon))
        alloc = ja || gin
        foot = jemalloc ? jres && jres + released : garena && garena + (gmmap || 0)
        [used, anon, rss && rss + released, heap, live, gc && !marking ? oldo : nil, alloc,
         jemalloc ? (jres && ja && jres - ja + released) : gfree,
         jact && ja && jact - ja, jres && jact && jres - jact + released,
         anon && heap && foot && anon - heap - foot, sunrec || slab, havail, threads]
      end
    end
  end
end
