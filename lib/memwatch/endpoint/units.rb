# frozen_string_literal: true

module Memwatch
  module Endpoint
    # HTML escaping for the dashboard (every dynamic string goes through Html.h).
    module Html
      ESCAPES = { "&" => "&amp;", "<" => "&lt;", ">" => "&gt;", '"' => "&quot;", "'" => "&#39;" }.freeze

      def self.h(value) = value.to_s.gsub(/[&<>"']/, ESCAPES)
    end

    # Human units and "nice" axis ranges for the dashboard.
    module Units
      BYTES = [[1024**3, "GiB"], [1024**2, "MiB"], [1024, "KiB"], [1, "B"]].freeze
      COUNTS = [[1e9, "G"], [1e6, "M"], [1e3, "k"], [1, ""]].freeze

      module_function

      # call-seq:
      #   Units.scale(:bytes, 3e8) -> [1048576, "MiB"]
      def scale(unit, max)
        table = unit == :bytes ? BYTES : COUNTS
        table.find { |div, _| max.abs >= div } || table.last
      end

      def bytes(n)
        return "–" if n.nil?
        div, suffix = scale(:bytes, n)
        div == 1 ? "#{n} B" : format("%.1f %s", n.to_f / div, suffix)
      end

      def count(n)
        return "–" if n.nil?
        div, suffix = scale(:count, n)
        div == 1 ? n.to_s : format("%.2f%s", n.to_f / div, suffix)
      end

      def rate(bytes_per_hour)
        return nil unless bytes_per_hour.is_a?(Numeric)
        "#{bytes_per_hour.negative? ? "−" : "+"}#{bytes(bytes_per_hour.abs.round)}/h"
      end

      # [min, max, step] covering lo..hi with about four steps of 1, 2, 2.5 or 5 x 10^n.
      # The axis starts at zero unless the data sit far above it (then growth stays
      # visible), but spans at least a fifth of the top value: a flat line must look flat,
      # not like noise magnified.
      def nice_range(lo, hi)
        lo, hi = lo.to_f, hi.to_f
        lo = 0.0 if lo >= 0 && lo <= hi * 0.5
        lo = [hi - hi.abs * 0.2, lo >= 0 ? 0.0 : lo].max if hi - lo < hi.abs * 0.2
        hi = lo + 1.0 if hi <= lo
        step = nice_step((hi - lo) / 4.0)
        ymin = (lo / step).floor * step
        ymax = (hi / step).ceil * step
        ymax += step if ymax <= ymin || ymax - hi < step * 0.05 # the top line off the frame
        [ymin, ymax, step]
      end

      def nice_step(raw)
        exp = 10.0**Math.log10(raw).floor
        f = raw / exp
        (f <= 1 ? 1 : f <= 2 ? 2 : f <= 2.5 ? 2.5 : f <= 5 ? 5 : 10) * exp
      end

      def tick(v)
        r = v.round(2)
        r == r.round ? r.round.to_s : r.to_s
      end
    end
  end
end
