# frozen_string_literal: true

module LeakLab
  # A scenario's measured signature from the lab's own probe rows: robust
  # (Theil-Sen) slopes per series over the run, and over its last third, so a
  # plateau shows as late << whole. Units: MB/min for bytes, per minute for counts.
  class Signature
    MB = 1024.0 * 1024
    PAGE = GC::INTERNAL_CONSTANTS[:HEAP_PAGE_SIZE]
    # name => [unit, how to read it from a probe row]
    SERIES = {
      rss: [:mb, ->(r) { r[:rss] }],
      rss_anon: [:mb, ->(r) { r[:rss_anon] }],
      heap_pages: [:mb, ->(r) { r[:heap_allocated_pages] && r[:heap_allocated_pages] * PAGE }],
      live_slots: [:k, ->(r) { r[:heap_live_slots] }],
      old_objects: [:k, ->(r) { r[:old_objects] }],
      ruby_malloc: [:mb, ->(r) { r[:ruby_malloc] }],
      alloc: [:mb, ->(r) { r[:je_allocated] || r[:gl_in_use] }],
      je_frag: [:mb, ->(r) { r[:je_active] && r[:je_active] - r[:je_allocated] }],
      je_dirty: [:mb, ->(r) { r[:je_resident] && r[:je_resident] - r[:je_active] }],
      gl_free: [:mb, ->(r) { r[:gl_free] }],
      native: [:mb, ->(r) { r[:native_leaked] }],
      threads: [:n, ->(r) { r[:threads] }],
      host_slab: [:mb, ->(r) { r[:host_slab] }]
    }.freeze

    attr_reader :rows

    # call-seq: Signature.new(probe_rows, skip: 5) -> Signature
    #
    # +skip+ seconds at the start (boot, first requests) are left out.
    def initialize(rows, skip: 5)
      t0 = rows.first&.fetch(:t)
      @rows = rows.select { |r| r[:t] - t0 >= skip }
    end

    # call-seq: slopes -> {series => {whole:, late:, delta:, last:}}
    def slopes
      SERIES.each_with_object({}) do |(name, (unit, read)), out|
        pts = @rows.filter_map { |r| (v = read.call(r)) && [r[:t] / 60.0, v / scale(unit)] }
        next if pts.size < 4

        out[name] = { whole: Signature.theil_sen(pts), late: Signature.theil_sen(pts.last(pts.size / 3)),
                      delta: pts.last[1] - pts.first[1], last: pts.last[1] }
      end
    end

    # call-seq: check(spec) -> Array of String (empty when the signature holds)
    #
    # +spec+: {"series[@whole|@late|@delta]" => Range}; "a|b" passes when any
    # of the series (that this allocator has) is in range.
    def check(spec)
      all = slopes
      spec.filter_map do |key, range|
        names, stat = key.split("@")
        stat ||= "whole"
        values = names.split("|").filter_map { |n| all.dig(n.to_sym, stat.to_sym) }
        next if values.any? { |v| range.cover?(v) }

        "probe #{key} = #{values.map { |v| v.round(1) }.join('/')} not in #{range}"
      end
    end

    def minutes
      @rows.empty? ? 0 : (@rows.last[:t] - @rows.first[:t]) / 60.0
    end

    def scale(unit)
      { mb: MB, k: 1000.0, n: 1.0 }.fetch(unit)
    end

    # call-seq: Signature.theil_sen([[x, y], ...]) -> Float
    #
    # Median of pairwise slopes; at most ~120 points are used (evenly spaced),
    # which keeps it well under a second for long runs.
    def self.theil_sen(points)
      pts = points.size > 120 ? points.each_slice((points.size / 120.0).ceil).map(&:first) : points
      s = []
      pts.each_with_index do |(x1, y1), i|
        pts[(i + 1)..].each { |x2, y2| s << (y2 - y1) / (x2 - x1) if x2 > x1 }
      end
      return 0.0 if s.empty?

      s.sort!
      s.size.odd? ? s[s.size / 2] : (s[s.size / 2 - 1] + s[s.size / 2]) / 2.0
    end
  end
end
