# frozen_string_literal: true

module Memwatch
  module Plot
    # Tick positions and labels: "nice" byte steps (1-2-5 in MiB or GiB) and time-of-day
    # steps aligned to the local clock, so a reader sees 09:00, 09:15, ... not 09:03:17.
    module Axis
      MIB = 1024 * 1024
      GIB = 1024 * MIB
      TIME_STEPS = [1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 10_800, 21_600,
                    43_200, 86_400, 172_800, 604_800].freeze

      Tick = Struct.new(:value, :label, :date)

      module_function

      # call-seq:
      #   Axis.byte_unit(max) -> [divisor, "MiB"]
      def byte_unit(max)
        return [GIB, "GiB"] if max >= 4 * GIB
        return [MIB, "MiB"] if max >= 4 * MIB

        [1024, "KiB"]
      end

      # call-seq:
      #   Axis.bytes(max, target: 6) -> [top, Array of Tick, unit]
      #
      # Ticks from 0 to a nice top at or above +max+, labelled in one unit.
      def bytes(max, target: 6)
        max = 1 if max.nil? || max <= 0
        div, unit = byte_unit(max)
        step = nice_step(max.fdiv(div) / target)
        top = (max.fdiv(div) / step).ceil * step
        ticks = (0..(top / step).round).map do |k|
          v = k * step
          Tick.new(v * div, step < 1 ? format("%.1f", v) : v.round.to_s)
        end
        [top * div, ticks, unit]
      end

      def nice_step(raw)
        exp = 10**Math.log10(raw).floor
        frac = raw / exp
        mult = [1, 2, 5, 10].find { |m| frac <= m } || 10
        mult * exp
      end

      # call-seq:
      #   Axis.time(t_min, t_max, target: 7) -> Array of Tick
      #
      # Ticks on local-clock boundaries. A Tick's date is set on the first tick and where
      # the day changes, so a multi-day chart stays readable.
      def time(t_min, t_max, target: 7)
        span = [t_max - t_min, 1].max
        step = TIME_STEPS.find { |s| span / s <= target } || TIME_STEPS.last
        offset = Time.at(t_min).utc_offset
        first = ((t_min + offset) / step.to_f).ceil * step - offset
        last_day = nil
        (first..t_max).step(step).map do |t|
          tm = Time.at(t)
          day = tm.strftime("%b %-d")
          tick = Tick.new(t, tm.strftime(time_format(step)), day == last_day ? nil : day)
          last_day = day
          tick
        end
      end

      def time_format(step)
        return "%H:%M:%S" if step < 60
        return "%H:%M" if step < 86_400

        "%b %-d"
      end

      # call-seq:
      #   Axis.zone_label(t) -> "UTC+01:00"
      def zone_label(t)
        off = Time.at(t).utc_offset
        sign = off.negative? ? "-" : "+"
        format("UTC%s%02d:%02d", sign, off.abs / 3600, off.abs % 3600 / 60)
      end
    end
  end
end
