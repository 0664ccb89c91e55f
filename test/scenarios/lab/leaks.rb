# frozen_string_literal: true

module LeakLab
  # One method per kind of growth. Each runs once per HTTP request, so the
  # growth rate is (amount per request) x (request rate the driver holds); the
  # driver paces requests, the query string sets the amount (see App for
  # ?pace=, which keeps the rate when the server falls behind). Every request
  # also makes ordinary garbage, as a real endpoint does (parse, build, render).
  module Leaks
    # Sizes that land in distinct small allocator size classes (jemalloc bins of
    # many regions per slab; glibc small chunks). A String longer than 23 bytes
    # mallocs len + 1, hence size - 1 below.
    SIZE_CLASSES = [32, 48, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320, 384, 448, 512].freeze
    LOCK = Mutex.new
    KEPT = []          # what the leaking scenarios retain (never shrinks)
    CACHE = {}         # the warm-up cache (bounded by its key space)
    PARKED = Queue.new # leaked threads wait on this forever
    PACED = {}         # route => time of its previous paced request
    STARTED = Process.clock_gettime(Process::CLOCK_MONOTONIC)

    module_function

    # Ordinary per-request work: ~kb KiB of short-lived strings plus small objects.
    def garbage(kb)
      rows = Array.new(50) { |i| { id: i, name: "row-#{i}", tags: %w[a b c] } }
      body = +""
      body << ("g" * 1000) << rows.size.to_s while body.bytesize < kb * 1024
      body.bytesize + rows.size
    end

    # Retains +n+ small objects ([Integer, embedded String]): slots, not malloc.
    def objects(n)
      batch = Array.new(n) { |i| [i, "o#{i}"] }
      LOCK.synchronize { KEPT.concat(batch) }
      n
    end

    # Retains one malloc'd string of +kb+ KiB: one slot, kb of Ruby-owned malloc.
    def strings(kb)
      bytes = (kb * 1024).round
      return 0 if bytes < 24 # would be embedded in its slot, not malloc'd

      s = "s" * bytes
      LOCK.synchronize { KEPT << s }
      s.bytesize
    end

    # Leaks +kb+ KiB through the C helper: malloc + memset, never freed.
    def native(kb)
      bytes = (kb * 1024).round
      bytes < 8 ? 0 : LeakLab.native_leak(bytes)
    end

    # A cache keyed by a random key from a fixed key space: it fills quickly,
    # then ever more slowly (coupon collector), then stops. Not a leak.
    def cache(keys, kb)
      key = rand(keys)
      LOCK.synchronize { CACHE[key] ||= ["c#{key}" * 4, "v" * (kb * 1024)] }
      CACHE.size
    end

    # Leaks threads (stuck workers: +depth+ frames deep, as in a framework
    # stack, blocked forever): +expected+ of them on average (0.2 = one every 5
    # requests). Measured: 20-90 KB of RSS per thread by depth and allocator.
    def threads(expected, depth)
      chance(expected).times { Thread.new { park(depth) }.name = "leaked" }
      Thread.list.size
    end

    # An Integer whose mean is +x+ (x = 2.3 gives 2 or 3).
    def chance(x)
      x.floor + (rand < x - x.floor ? 1 : 0)
    end

    # How many nominal requests' worth of leak this request owes so that the
    # leak keeps +rps+ x amount per second of wall time for route +key+, even
    # when requests arrive late (a starved CPU, a long GC pause): the time since
    # the route's previous request x rps. Gaps over 10 s (the load stopped) are
    # not made up.
    def pace(key, rps)
      now = Process.clock_gettime(Process::CLOCK_MONOTONIC)
      LOCK.synchronize do
        last = PACED[key]
        PACED[key] = now
        last && now - last <= 10 ? (now - last) * rps : 1.0
      end
    end

    def park(depth)
      depth.zero? ? PARKED.pop : park(depth - 1)
    end

    # Allocator fragmentation: bursts of same-size strings, 1 in +keep+ retained,
    # the size class moving on every +period+ seconds. Ruby frees the rest at
    # the next GC; the survivors pin pages (jemalloc slabs, glibc chunks) whose
    # other regions are free but reusable only by that size, so RSS grows far
    # faster than live data. Fragmentation is bounded by the peak a size class
    # ever needed, so the burst grows (x(1 + uptime/grow), at most x8), like a
    # request over an ever larger data set: each visit of a class needs more
    # pages than the last. With +thread+ 1 the burst runs in a short-lived
    # thread, as code that fans work out per request does.
    def fragment(kb, keep, period, thread, grow)
      t = uptime
      size = SIZE_CLASSES[(t / period).to_i % SIZE_CLASSES.size] - 1
      bytes = kb * 1024 * [1 + t / grow, 8].min
      work = -> { fragment_burst((bytes / size).to_i, size, keep) }
      kept = thread == 1 ? Thread.new(&work).value : work.call
      LOCK.synchronize { KEPT.concat(kept) }
      kept.size
    end

    def fragment_burst(count, size, keep)
      Array.new(count) { "f" * size }.each_slice(keep).map(&:first)
    end

    def uptime
      Process.clock_gettime(Process::CLOCK_MONOTONIC) - STARTED
    end

    def kept_count
      KEPT.size
    end
  end
end
