# frozen_string_literal: true

module Memwatch
  module Endpoint
    # Samples in the log's own format (doc/internals.md, "The log"): "# key: value" lines,
    # the header, one row per sample, nil as an empty field. Memwatch::LogReader and
    # `memwatch` CLI commands read what this writes.
    module Tsv
      # Float columns as the C log writer prints them (logfile.c).
      FLOATS = { tick: "%.3f", gc_age_seconds: "%.3f", memwatch_cpu_seconds: "%.6f" }.freeze

      module_function

      # call-seq:
      #   Tsv.render(columns, samples) -> String
      def render(columns, samples)
        out = +"# memwatch log\n"
        metadata.each { |k, v| out << "# #{k}: #{v.to_s.tr("\r\n", "  ")}\n" unless v.nil? }
        out << columns.join("\t") << "\n"
        samples.each { |s| out << row(columns, s) }
        out
      end

      def metadata
        config = Source.config
        { pid: Process.pid, ppid: Process.ppid, ruby: RUBY_VERSION, allocator: Source.allocator,
          memwatch: Memwatch::VERSION, schema: 1, interval: config["interval"], label: config["label"] }
      end

      def row(columns, sample)
        native = defined?(Memwatch::Native) && Memwatch::Native.respond_to?(:_format_row)
        return Memwatch::Native._format_row(sample) if native
        columns.map { |c| field(c, sample[c]) }.join("\t") << "\n"
      end

      def field(column, value)
        case value
        when nil then ""
        when Float then value.finite? ? format(FLOATS.fetch(column, "%.6f"), value) : ""
        else value.to_s.tr("\t\n", "  ")
        end
      end
    end
  end
end
