# frozen_string_literal: true

require "memwatch/cli/command"
require "memwatch/cli/log_args"
require "memwatch/cli/figures"
require "memwatch/cli/verdicts"

module Memwatch
  module CLI
    # `memwatch summary LOG...`: duration, sample count, the figures of each log and its
    # verdict. Reads files only; never loads the native extension.
    class Summary < Command
      EXIT_CODES = <<~TEXT
        Exit codes: 0 no leak, 1 leak found, 2 error (bad arguments, unreadable or malformed
        log), 3 insufficient data. With several logs: 2 if any failed, else 1 if any leaks,
        else 3 if any is undecided, else 0.
      TEXT

      private

      def banner
        <<~TEXT.chomp
          Usage: memwatch summary LOG... [--json] [-c KEY=VALUE]...

          LOG is a memwatch log (x.tsv, read with its rotated x.tsv.N), several files or a
          directory of logs. Prints duration, sample count, first/last/min/max and growth per
          hour of RSS, the Ruby heap and the allocator, then the verdict.
        TEXT
      end

      def define_options(opts)
        json_option(opts)
        @options[:classifier] = {}
        opts.on("-c", "--classifier KEY=VALUE", "pass an option to the classifier (repeatable)") do |kv|
          key, value = kv.split("=", 2)
          raise OptionParser::InvalidArgument, kv unless value && key.match?(/\A[a-z_]\w*\z/)

          @options[:classifier][key.to_sym] = Integer(value, 10, exception: false) || Float(value, exception: false) || value
        end
      end

      def execute(args)
        need_args(args, 1, "LOG")
        reports = LogArgs.readers(args).map { |reader| report(reader) }
        code = combined_exit(reports.map { |r| r[:exit_code] })
        @options[:json] ? print_json(logs: reports.map { |r| r.except(:figures_obj, :verdict_obj) }, exit_code: code) : reports.each { |r| print_text(r) }
        code
      end

      # One log; a malformed log becomes an error entry so the other logs still print.
      def report(reader)
        rows = reader.to_a
        reader.warnings.each { |w| warn_line(w) }
        rows = main_rows(rows)
        verdict = rows.first&.dig(:type) == "host" ? host_verdict(reader) : Verdicts.classify(rows, @options[:classifier])
        build(reader, rows, Figures.of(rows), verdict)
      rescue LogReader::Error => e
        err.puts "memwatch: #{e.message}"
        { log: reader.paths.last, files: reader.paths, error: e.message, exit_code: ERROR }
      end

      # A process log has `sample` rows; a host log (record --all) has `host` rows.
      def main_rows(rows)
        samples = rows.select { |r| r[:type] == "sample" }
        return samples unless samples.empty?

        rows.select { |r| r[:type] == "host" }.each do |r|
          r[:host_used_bytes] = r[:host_mem_total_bytes] - r[:host_mem_available_bytes] if r[:host_mem_total_bytes] && r[:host_mem_available_bytes]
        end
      end

      # A `record --all` log is judged as `memwatch top` judges it.
      def host_verdict(reader)
        require "memwatch/cli/host_verdict"
        HostVerdict.of(reader)
      end

      def build(reader, rows, figures, verdict)
        from = rows.first&.dig(:tick)
        to = rows.last&.dig(:tick)
        {
          log: reader.paths.last, files: reader.paths, title: LogArgs.title(reader),
          metadata: reader.metadata, samples: rows.size, from: from, to: to,
          duration_seconds: from && (to - from).round(3),
          figures: figures.to_h { |f| [f.column, f.to_h.except(:column)] }, figures_obj: figures,
          verdict: verdict&.to_h, verdict_obj: verdict, warnings: reader.warnings.dup,
          attribution: attribution(reader.paths.last),
          exit_code: verdict ? verdict.exit_code : INSUFFICIENT
        }
      end

      # The latest minute of the attribution log beside this log, if there is
      # one (Memwatch::Attribution in the app); a bad one is a warning.
      def attribution(log)
        require "memwatch/attribution_log"
        path = AttributionLog.path_for(log)
        return nil unless File.file?(path)

        rows = AttributionLog.read(path)
        rows.select { |r| r[:tick] == rows.last[:tick] }.map { |r| r.except(:tick).merge(at: r[:tick]) }
      rescue LogReader::Error, SystemCallError => e
        warn_line("attribution log skipped: #{e.message}")
        nil
      end

      def combined_exit(codes)
        [ERROR, LEAK, INSUFFICIENT].find { |c| codes.include?(c) } || OK
      end

      def print_text(r)
        return if r[:error]

        out.puts header_line(r), span_line(r), ""
        out.puts figures_table(r[:figures_obj]) unless r[:figures_obj].empty?
        out.puts "", *verdict_lines(r[:verdict_obj]), ""
        out.puts(*attribution_lines(r[:attribution]), "") if r[:attribution]&.any?
      end

      def attribution_lines(rows)
        ["routes by retained bytes per request (attribution log, #{time(rows.first[:at])}):",
         *rows.map do |r|
           "  #{r[:suspect] == 1 ? 'SUSPECT' : '       '} #{r[:route]}  #{r[:retained_bytes_per_request] || '?'} B/request " \
             "± #{r[:retained_bytes_per_request_se] || '?'}, #{r[:requests]} requests, #{r[:confidence]}"
         end]
      end

      def verdict_lines(verdict)
        return ["verdict: none available (classifier not installed and none logged)"] unless verdict

        ["verdict: #{Verdicts.headline(verdict)}", *Verdicts.details(verdict)]
      end

      def header_line(r)
        m = r[:metadata]
        parts = ["log #{r[:log]}"]
        parts << "(+#{r[:files].size - 1} rotated)" if r[:files].size > 1
        parts << "label #{m[:label]}" if m[:label]
        parts << "pid #{m[:pid]}" if m[:pid]
        parts << "ruby #{m[:ruby]}" if m[:ruby]
        parts << "allocator #{m[:allocator]}" if m[:allocator]
        parts.join("  ")
      end

      def span_line(r)
        interval = r[:metadata][:interval]
        "#{time(r[:from])} .. #{time(r[:to])} (#{duration(r[:duration_seconds])}), " \
          "#{count(r[:samples])} samples#{interval ? ", interval #{interval}s" : ''}"
      end

      def figures_table(figures)
        rows = [["", "first", "last", "min", "max", "growth"]]
        figures.each do |f|
          fmt = f.unit == :bytes ? method(:bytes) : method(:count)
          growth = f.unit == :bytes ? rate(f.per_hour) : "#{f.per_hour&.positive? ? '+' : ''}#{count(f.per_hour)}/h"
          rows << [f.label, fmt.(f.first), fmt.(f.last), fmt.(f.min), fmt.(f.max), growth]
        end
        table(rows, [:left] + [:right] * 5)
      end
    end
  end
end
