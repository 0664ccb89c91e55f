# frozen_string_literal: true

module Memwatch
  class Attribution
    # The low-rate log rows: once per verdict_interval (60 s by default), one
    # "attribution" row per suspect route, or one summary row when there is none.
    # Fields after type and tick are key=value pairs, so a reader that knows only
    # "sample" rows can skip these by their type:
    #
    #   attribution<TAB>1795247527.123<TAB>route=GET /leak<TAB>requests=8123<TAB>retained_bytes_per_request=20480<TAB>se=512<TAB>confidence=high
    module LogRow
      FIELDS = %w[requests retained_bytes_per_request retained_bytes_per_request_se confidence].freeze

      module_function

      # call-seq:
      #   LogRow.lines(report, time = Time.now.to_f) -> Array of String (each ends in "\n")
      def lines(report, time = Time.now.to_f)
        tick = format("%.3f", time)
        suspects = report["routes"].select { |r| r["suspect"] }
        if suspects.empty?
          return ["attribution\t#{tick}\troute=\tstatus=#{report["status"]}\trequests=#{report["requests"]}\tsuspects=0\n"]
        end

        suspects.first(5).map do |r|
          fields = FIELDS.map { |f| "#{f.sub("retained_bytes_per_request_se", "se")}=#{r[f]}" }
          "attribution\t#{tick}\troute=#{clean(r["route"])}\t#{fields.join("\t")}\n"
        end
      end

      # Route keys come from requests: no TAB or newline may reach the log.
      def clean(text) = text.to_s.gsub(/[\t\r\n\\]/) { |c| format("\\x%02x", c.ord) }

      # call-seq:
      #   LogRow.write(report) -> Integer (rows written; 0 when the log cannot take them)
      #
      # Needs Memwatch::Native._log_write_line (one write(2) per row, as the sampler's
      # rows); without it nothing is written.
      def write(report)
        native = defined?(Memwatch::Native) && Memwatch::Native
        return 0 unless native.respond_to?(:_log_write_line) && Memwatch.log_path

        lines(report).each { |l| native._log_write_line(l) }.size
      end
    end
  end
end
