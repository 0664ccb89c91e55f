# frozen_string_literal: true

module Memwatch
  class Classifier
    # Question 2: what grew? Over one window, the robust slope of every
    # component and the share of the growth each cause explains:
    #
    #   anon RSS ≈ Ruby heap pages (mmap) + allocator footprint + other
    #   allocator allocated = Ruby-owned malloc + native malloc
    #
    # Ruby-owned malloc comes from heap walks when there are two or more in
    # reach; else the allocator's growth is given to Ruby when old_objects
    # grow and to native code when they do not, marked tentative. (The cheap
    # oldmalloc_increase_bytes counter was tried and rejected: it restarts at
    # each major GC and clamps at zero during lazy sweeping, so its increments
    # were off by 100× on a churning heap.)
    class Attribution # :nodoc:
      RUBY = %w[ruby_objects ruby_malloc].freeze

      attr_reader :from, :to, :method

      def initialize(evaluation, from, to, wide_from)
        @ev = evaluation
        @from = from
        @to = to
        @wide_from = wide_from
        @trends = {}
        @method = nil
      end

      # call-seq:
      #   attribution.trend(name) -> Trend over this window (cached)
      def trend(name)
        @trends[name] ||= @ev.trend(name, @from, @to, (@ev.opts[:points] / 2).clamp(12, 60))
      end

      def rate(name)
        t = trend(name)
        t.usable? ? t.slope : nil
      end

      # call-seq:
      #   attribution.ruby_malloc_rate -> bytes/hour or nil (sets #method)
      def ruby_malloc_rate
        return @rm if defined?(@rm)

        @rm = walk_rate
      end

      # The growth the shares are fractions of: anon RSS, or the allocator's
      # allocated bytes when those grow without RSS (untouched allocations).
      def base
        a = rate(:used).to_f
        m = rate(:alloc).to_f
        [a, m > 2 * a ? m : 0.0].max
      end

      # call-seq:
      #   attribution.causes -> Array of {"kind", "share", "series"}, biggest first
      def causes
        @causes ||= begin
          b = base
          list = b.positive? ? merged_causes.map { |k, (v, s)| { "kind" => k, "share" => (v / b).clamp(0.0, 1.5).round(3), "series" => s } } : []
          list.select { |c| c["share"] >= 0.1 }.sort_by { |c| -c["share"] }
        end
      end

      # call-seq:
      #   attribution.kind(kind_share) -> String or nil
      #
      # The top cause when it explains at least +kind_share+ of the growth or
      # 1.5 times the next; "mixed" when two causes share it (two Ruby causes
      # do not make a mix: the next step is the same heap diff).
      def kind(kind_share)
        top, second = causes
        return nil unless top
        return top["kind"] if second.nil? || top["share"] >= kind_share
        return top["kind"] if second["share"] < top["share"] / 1.5
        return top["kind"] if RUBY.include?(top["kind"]) && RUBY.include?(second["kind"])

        "mixed"
      end

      # The series whose growth must back the verdict of +kind+.
      def lead_series(kind)
        top = causes.find { |c| c["kind"] == kind } || causes.first
        top && top["series"]
      end

      def tentative?
        @method == "old_objects_guess"
      end

      # call-seq:
      #   attribution.threads_growing? -> bool
      #
      # More than 60 threads an hour, significantly.
      def threads_growing?
        trend(:threads).significant?(60)
      end

      def inspect
        "#<#{self.class.name} #{@from.round}..#{@to.round} #{@method}>"
      end

      # call-seq:
      #   attribution.rates -> Hash of bytes/hour per component (old_objects: objects/hour)
      def rates
        rm = ruby_malloc_rate
        alloc = rate(:alloc)
        { "rss" => rate(:rss), "anon" => rate(:anon), "used" => rate(:used), "ruby_heap" => rate(:heap),
          "ruby_live" => rate(:live), "old_objects" => rate(:old),
          "allocator_allocated" => alloc, "allocator_overhead" => rate(:overhead),
          "allocator_fragmentation" => jemalloc? ? rate(:frag) : nil,
          "allocator_dirty" => jemalloc? ? rate(:dirty) : nil,
          "ruby_malloc" => rm, "native" => alloc && rm ? alloc - rm : nil,
          "other" => rate(:other), "threads" => rate(:threads), "host_slab" => rate(:kernel),
          "host_available" => rate(:host_avail) }.transform_values { |v| v&.round }
      end

      def shares
        causes.to_h { |c| [c["kind"], c["share"]] }
      end

      private

      def jemalloc?
        @ev.signals.allocator == "jemalloc"
      end

      # kind => [bytes/hour, lead series]: a kind found twice (native malloc
      # and native mmaps) adds up, led by its bigger part.
      def merged_causes
        raw_causes.group_by(&:first).transform_values do |list|
          [list.sum { |_, v, _| v }, list.max_by { |_, v, _| v }[2]]
        end
      end

      # [kind, bytes/hour, lead series] per candidate cause.
      def raw_causes
        out = []
        live = rate(:live)
        out << ["ruby_objects", live, :live] if live&.positive?
        malloc_causes(out)
        fragmentation_causes(out)
        other = trend(:other)
        out << ["native", other.slope, :other] if other.significant?(0)
        out
      end

      def malloc_causes(out)
        alloc = rate(:alloc)
        return unless alloc&.positive?

        rm = ruby_malloc_rate
        if rm.nil?
          guess_malloc(out, alloc)
        else
          rm = rm.clamp(0.0, alloc)
          out << ["ruby_malloc", rm, :alloc] if rm.positive?
          out << ["native", alloc - rm, :alloc] if alloc > rm
        end
      end

      # No walk: Ruby-owned malloc retained by Ruby objects shows up as old
      # objects growing while their slots barely do (a few big Strings or
      # Arrays); a native leak leaves old objects flat. Old objects that grow
      # with the live heap are explained by their slots (a Ruby-object leak,
      # perhaps beside a native one), and leaked threads make old objects
      # and allocator state grow together: both count as native here.
      def guess_malloc(out, alloc)
        @method = "old_objects_guess"
        slots = rate(:live).to_f / base
        ruby = trend(:old).significant?(0) && slots < 0.05 && !threads_growing?
        out << [ruby ? "ruby_malloc" : "native", alloc, :alloc]
      end


      def fragmentation_causes(out)
        if jemalloc?
          frag = rate(:frag)
          dirty = rate(:dirty)
          out << ["fragmentation", frag, :frag] if frag&.positive?
          out << ["retention", dirty, :dirty] if dirty&.positive?
        else
          over = rate(:overhead)
          out << ["fragmentation", over, :overhead] if over&.positive?
        end
      end

      # Ruby-owned malloc growth from the heap walks within reach (at least
      # two, a minute apart). Walks are few and the growth rate may change
      # between them (a warm-up, then a leak), so what they give is the
      # Ruby-owned share of the allocator's growth between the first and the
      # last walk (each against the allocator's floor around it: walks run
      # after a GC); that share of this window's allocator rate is Ruby's.
      # When the allocator did not grow between them: the walks' own slope.
      def walk_rate
        ts, ys = @ev.signals.points(:rmalloc, @wide_from, @to)
        return nil if ts.size < 2 || (ts.last - ts.first) * 3600 < 60

        @method = "heap_walk"
        first, last = [ts.first, ts.last].map { |h| alloc_near(@wide_from + h * 3600) }
        alloc = rate(:alloc)
        if first && last && alloc && last - first > 1024 * 1024
          return alloc * ((ys.last - ys.first) / (last - first)).clamp(0.0, 1.0)
        end

        ts.size == 2 ? (ys[1] - ys[0]) / (ts[1] - ts[0]) : Stats.theil_sen(ts, ys)
      end

      def alloc_near(tick)
        Stats.median(@ev.signals.floors(:alloc, tick - 10, tick + 10, 20)[1])
      end
    end
  end
end
