# frozen_string_literal: true

# (No tests here and no test_helper: `rake classifier:bench` loads this file
# alone. Its own checks are in test_classifier.rb.)
# Realistic synthetic sample series for the classifier tests, built from the
# measured signatures in DESIGN.md and research §5 (not from the classifier's
# own rules): a Puma-sized Ruby process under load, with GC sawtooth, heap
# pages that grow in steps, allocator garbage between GCs, glibc arenas that
# ratchet up to their high-water mark, jemalloc dirty pages that decay, noisy
# host memory from other processes, and one cause of growth per scenario.
#
#   ClassifierSynth.series(:native, seed: 1, minutes: 5, rate: 1.0)
#
# +rate+ is MiB per second of leaked (or cached) bytes.
module ClassifierSynth
  MIB = 1024 * 1024
  PAGE = 16_384
  SLOTS_PER_PAGE = 409
  SLOT = 40

  module_function

  # call-seq:
  #   ClassifierSynth.series(scenario, seed:, minutes:, interval: 1.0,
  #                          allocator: "glibc", rate: 1.0, **opts) -> Array<Hash>
  #
  # Scenarios: :steady, :warm_exp (cache filling, tau: seconds, amount: MiB),
  # :warm_linear (fills at rate to amount then stops), :warm_steps (lazy
  # loading), :step (one +amount at step_at), :ruby_objects, :ruby_malloc,
  # :native, :native_virtual, :fragmentation, :retention (burst of amount at
  # burst_at, freed after burst_for), :kernel. Options: start_at (leak onset,
  # s), walk_every (heap walks, s; nil = none), noise (MiB), phi (its lag-1
  # autocorrelation per row), churn (MiB
  # garbage per GC), gap (drop rows in [a, b) seconds), meminfo_every, t0
  # (first tick), count0 (first GC count: continue another series), warm
  # ({amount:, tau:}: an exponential start-up warm-up on top of any scenario).
  def series(scenario, seed:, minutes:, interval: 1.0, allocator: "glibc", rate: 1.0, **opts)
    Gen.new(scenario, Random.new(seed), allocator, rate * MIB, opts).run(minutes * 60.0, interval)
  end

  # The driver: one state per tick, one Hash per sample.
  class Gen
    def initialize(scenario, rng, allocator, rate, opts)
      @sc = scenario
      @rng = rng
      @je = allocator == "jemalloc"
      @rate = rate
      @o = { start_at: 0.0, walk_every: 60.0, noise: 1.5, phi: 0.0, churn: 12.0, amount: 120.0, tau: 300.0,
             step_at: 240.0, burst_at: 120.0, burst_for: 30.0, meminfo_every: 10, t0: 1_795_000_000.0 }.merge(opts)
      @count = @o[:count0] || 40
      @major = 6
      @allocated0 = 1_000_000 + @count * 10_000
      @promoted = 0.0
      @old_at_major = 200_000.0
      @next_major = 60 + @rng.rand(240)
      @pages = 900
      @arena = 0.0
      @dirty = 0.0
      @ar = 0.0
      @host_noise = 0.0
      @avail_noise = 0.0
      @last_walk = nil
    end

    def run(duration, interval)
      rows = []
      t = 0.0
      i = 0
      while t <= duration
        row = sample(t, i)
        rows << row unless @o[:gap] && t >= @o[:gap][0] && t < @o[:gap][1]
        i += 1
        t = i * interval
      end
      rows
    end

    private

    def u(lo, hi)
      lo + @rng.rand * (hi - lo)
    end

    def gauss
      Math.sqrt(-2 * Math.log(1 - @rng.rand)) * Math.cos(2 * Math::PI * @rng.rand)
    end

    # Leaked/cached bytes of the scenario's cause at time t (seconds).
    def amount(t)
      a = @o[:amount] * MIB
      lt = t - @o[:start_at]
      case @sc
      when :warm_exp then a * (1 - Math.exp(-t / @o[:tau]))
      when :warm_linear then [@rate * t, a].min
      when :warm_steps then a * [0.3, 0.5, 0.8, 1.0].count { |f| t > f * @o[:tau] } / 4.0
      when :step then t >= @o[:step_at] ? a : 0.0
      when :steady, :retention then 0.0
      else lt.positive? ? @rate * lt : 0.0
      end
    end

    def split(t)
      parts = cause(amount(t))
      return parts unless @o[:warm]

      # A start-up warm-up (a cache filling) on top of the scenario's cause.
      w = @o[:warm][:amount] * MIB * (1 - Math.exp(-t / @o[:warm][:tau]))
      parts.merge(obj: parts[:obj].to_f + w * 0.3 / SLOT, alloc: parts[:alloc].to_f + w * 0.7,
                  rm: parts[:rm].to_f + w * 0.6)
    end

    def cause(x)
      case @sc
      when :ruby_objects then { obj: x / SLOT * 0.85, alloc: x * 0.15, rm: x * 0.15 }
      when :ruby_malloc then { obj: x / 20_000.0, alloc: x, rm: x }
      when :native, :native_virtual then { alloc: x }
      when :fragmentation then { alloc: x * 0.4, frag: x * 0.6 }
      when :kernel then { kernel: x }
      when :warm_exp, :warm_linear, :warm_steps, :step then { obj: x * 0.3 / SLOT, alloc: x * 0.7, rm: x * 0.6 }
      else {}
      end
    end

    def burst(t)
      return 0.0 unless @sc == :retention

      t >= @o[:burst_at] && t < @o[:burst_at] + @o[:burst_for] ? @o[:amount] * MIB : 0.0
    end

    # Minor GCs every tick; a major when old objects doubled since the last
    # one, or now and then (malloc limits). Promoted garbage inflates
    # old_objects until the next major.
    def gc_step(t, obj)
      @count += 1 + (@rng.rand < 0.3 ? 1 : 0)
      @promoted += u(50, 400)
      if 200_000 + obj + @promoted > 2 * @old_at_major || t >= @next_major
        @major += 1
        @promoted = 0
        @next_major = t + 60 + @rng.rand(240)
        @old_at_major = 200_000 + obj
      end
      200_000 + obj + @promoted
    end

    def sample(t, i)
      parts = split(t)
      obj = parts[:obj].to_f
      old = gc_step(t, obj)
      marked = old + u(5_000, 20_000)
      live_slots = marked + u(0, 60_000)
      # Ruby 3.1: under 20% free slots after a GC, the heap grows by 80%.
      @pages = (@pages * 1.8).ceil if marked > @pages * SLOTS_PER_PAGE * 0.8
      heap = @pages * PAGE
      churn = @o[:churn] * MIB
      alloc_live = 40 * MIB + parts[:alloc].to_f + burst(t)
      alloc = alloc_live + u(0, churn)
      resident, extra = allocator_state(alloc, parts[:frag].to_f, churn)
      @ar = @o[:phi] * @ar + Math.sqrt(1 - @o[:phi]**2) * gauss
      other = 30 * MIB + @ar * @o[:noise] * MIB
      anon = heap + resident + other
      anon -= parts[:alloc].to_f if @sc == :native_virtual
      row = base_row(t, i, old, marked, live_slots, heap)
      row.merge!(rss_bytes: (anon + 45 * MIB).round, rss_anon_bytes: anon.round, rss_file_bytes: 45 * MIB,
                 swap_bytes: 0, threads: 12)
      row.merge!(extra.call(alloc))
      row[:ruby_heap_bytes] = heap
      row[:ruby_malloc_bytes] = walk(t, parts)
      host(row, i, parts[:kernel].to_f)
      row
    end

    # glibc: arenas keep their high-water mark (RSS never gives back free
    # chunks); jemalloc: dirty pages of freed garbage decay within ~10 s.
    def allocator_state(alloc, frag, churn)
      if @je
        @dirty = @dirty * 0.8 + u(0, churn * 0.3)
        active = alloc * 1.03 + frag
        resident = active + @dirty
        [resident, lambda { |a|
          { je_allocated_bytes: a.round, je_active_bytes: active.round, je_resident_bytes: resident.round,
            je_mapped_bytes: (resident * 1.1).round, je_retained_bytes: (20 * MIB), je_metadata_bytes: 4 * MIB }
        }]
      else
        peak = alloc + frag + u(0, churn * 0.2) * (1 + gauss.abs)
        @arena = peak if peak > @arena
        [@arena, lambda { |a|
          skipped = @rng.rand < 0.15
          { glibc_in_use_bytes: skipped ? nil : a.round, glibc_free_bytes: skipped ? nil : (@arena - a).round,
            glibc_arena_bytes: skipped ? nil : @arena.round, glibc_mmap_bytes: skipped ? nil : 0,
            glibc_releasable_bytes: skipped ? nil : 128 * 1024 }
        }]
      end
    end

    def base_row(t, i, old, marked, live, heap)
      { type: "sample", tick: @o[:t0] + t, count: @count, time: @count * 3, heap_allocated_pages: @pages,
        heap_available_slots: @pages * SLOTS_PER_PAGE, heap_live_slots: live.round, heap_marked_slots: marked.round,
        minor_gc_count: @count - @major, major_gc_count: @major, old_objects: old.round,
        total_allocated_objects: @allocated0 + i * 5_000, oldmalloc_increase_bytes: @rng.rand(16 * MIB),
        gc_age_seconds: u(0, 0.05) }
    end

    def walk(t, parts)
      return nil unless @o[:walk_every] && t >= @o[:walk_every]
      return nil if @last_walk && t - @last_walk < @o[:walk_every]

      @last_walk = t
      (3 * MIB + parts[:rm].to_f * u(0.95, 1.05) + gauss * 0.3 * MIB).round
    end

    # /proc/meminfo, shared with every other process on the host.
    def host(row, i, kernel)
      return unless (i % @o[:meminfo_every]).zero?

      @host_noise += gauss * 0.3 * MIB
      @avail_noise += gauss * 30 * MIB
      su = 180 * MIB + kernel + @host_noise
      row.merge!(host_mem_available_bytes: (4096 * MIB + @avail_noise - kernel).round,
                 host_slab_bytes: (su + 300 * MIB).round, host_sunreclaim_bytes: su.round)
    end
  end
end
