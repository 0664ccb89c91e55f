# frozen_string_literal: true

module Memwatch
  module CLI
    # Human formatting shared by the text outputs (JSON outputs keep raw numbers).
    module Format
      UNITS = %w[B KiB MiB GiB TiB].freeze

      module_function

      # call-seq:
      #   bytes(n) -> "12.3 MiB"
      def bytes(n)
        return "-" if n.nil?

        sign = n.negative? ? "-" : ""
        value = n.abs.to_f
        unit = 0
        while value >= 1024 && unit < UNITS.size - 1
          value /= 1024
          unit += 1
        end
        unit.zero? ? "#{sign}#{value.round} B" : format("%s%.1f %s", sign, value, UNITS[unit])
      end

      # call-seq:
      #   rate(bytes_per_hour) -> "+1.2 MiB/h"
      def rate(per_hour)
        return "-" if per_hour.nil?

        "#{per_hour.negative? ? '' : '+'}#{bytes(per_hour.round)}/h"
      end

      # call-seq:
      #   count(n) -> "1,234,567"
      def count(n)
        return "-" if n.nil?
        return format("%.3g", n) if n.is_a?(Float)

        n.to_s.reverse.scan(/\d{1,3}-?/).join(",").reverse
      end

      # call-seq:
      #   duration(seconds) -> "2h 05m"
      def duration(seconds)
        return "-" if seconds.nil?

        s = seconds.round
        return "#{s}s" if s < 60
        return format("%dm %02ds", s / 60, s % 60) if s < 3600
        return format("%dh %02dm", s / 3600, s % 3600 / 60) if s < 86_400

        format("%dd %02dh", s / 86_400, s % 86_400 / 3600)
      end

      # call-seq:
      #   time(epoch) -> "2026-11-21 09:48:26"
      def time(epoch)
        return "-" if epoch.nil?

        Time.at(epoch).strftime("%Y-%m-%d %H:%M:%S")
      end

      # call-seq:
      #   table(rows, align) -> String
      #
      # Columns padded to their widest cell; +align+ holds :left or :right per column.
      def table(rows, align)
        widths = rows.transpose.map { |col| col.map { |c| c.to_s.size }.max }
        rows.map do |row|
          row.each_with_index.map do |cell, i|
            align[i] == :right ? cell.to_s.rjust(widths[i]) : cell.to_s.ljust(widths[i])
          end.join("  ").rstrip
        end.join("\n")
      end
    end
  end
end
