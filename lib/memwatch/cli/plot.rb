# frozen_string_literal: true

require "memwatch/cli/command"
require "memwatch/cli/log_args"
require "memwatch/cli/verdicts"
require "memwatch/plot/process_chart"
require "memwatch/plot/svg"
require "memwatch/plot/gnuplot"

module Memwatch
  module CLI
    # `memwatch plot LOG... [-o out.svg|out.png] [--gnuplot script.gp]`: one chart of
    # memory over time for one or several logs (e.g. every Puma worker), with verdicts.
    class Plot < Command
      EXIT_CODES = "Exit codes: 0 chart written, 2 error (bad arguments, unreadable log, gnuplot failed)."
      DURATION = /\A(\d+(?:\.\d+)?)([smhd])\z/.freeze
      SECONDS = { "s" => 1, "m" => 60, "h" => 3600, "d" => 86_400 }.freeze

      private

      def banner
        <<~TEXT.chomp
          Usage: memwatch plot LOG... [-o FILE.svg|FILE.png|-] [--gnuplot FILE.gp] [options]

          Charts RSS, the Ruby heap and the allocator over time of day, with each log's
          verdict. Several logs (or a directory) share one chart. A `memwatch record --all`
          directory plots the host and its fastest-growing processes. SVG is built in; PNG
          needs gnuplot (apt-get install gnuplot-nox).
        TEXT
      end

      def define_options(opts)
        @options[:output] = "memwatch-plot.svg"
        opts.on("-o", "--output FILE", "FILE.svg (default memwatch-plot.svg), FILE.png, or - for SVG on stdout") { |v| @options[:output] = v }
        opts.on("--gnuplot FILE", "also write a gnuplot script (data inline) to tweak and rerun") { |v| @options[:gnuplot] = v }
        opts.on("--columns LIST", Array, "byte columns to draw, e.g. rss_bytes,ruby_heap_bytes") { |v| @options[:columns] = v.map(&:to_sym) }
        opts.on("--last DURATION", "only the last part of the logs: 90s, 30m, 6h, 2d") { |v| @options[:last] = parse_duration(v) }
        opts.on("--top N", Integer, "processes drawn for a record --all log (default 5)") do |v|
          raise OptionParser::InvalidArgument, v.to_s unless v.positive?

          @options[:top] = v
        end
      end

      def execute(args)
        need_args(args, 1, "LOG")
        format = output_format(@options[:output])
        validate_columns
        chart = build_chart(LogArgs.readers(args))
        write_gnuplot(chart) if @options[:gnuplot]
        write_output(chart, format)
        OK
      end

      def output_format(path)
        return :svg if path == "-" || path.end_with?(".svg")
        return :png if path.end_with?(".png")

        raise UsageError, "output must end in .svg or .png (got #{path.inspect})"
      end

      def validate_columns
        bad = Array(@options[:columns]).reject { |c| c.to_s.end_with?("_bytes") }
        raise UsageError, "--columns takes byte columns (*_bytes); not: #{bad.join(', ')}" unless bad.empty?
      end

      def parse_duration(text)
        m = DURATION.match(text) or raise OptionParser::InvalidArgument, "#{text} (use e.g. 90s, 30m, 6h, 2d)"
        m[1].to_f * SECONDS[m[2]]
      end

      def build_chart(readers)
        logs = readers.map { |r| load(r) }
        if logs.any? { |l| l[:host] }
          warn_line("plotting the `record --all` log alone; plot process logs separately") if logs.size > 1
          require "memwatch/plot/host_chart"
          return Memwatch::Plot::HostChart.new(logs.find { |l| l[:host] }, top: @options[:top] || 5).build
        end
        tuples = logs.map { |l| [l[:title], l[:meta], l[:rows], Verdicts.classify(l[:rows])] }
        Memwatch::Plot::ProcessChart.new(tuples, columns: @options[:columns]).build
      end

      def load(reader)
        rows = reader.to_a
        reader.warnings.each { |w| warn_line(w) }
        rows = trim(rows)
        host = rows.any? { |r| r[:type] == "host" }
        { title: LogArgs.title(reader), meta: reader.metadata, host: host,
          rows: host ? rows : rows.select { |r| r[:type] == "sample" } }
      end

      def trim(rows)
        return rows unless @options[:last] && rows.last

        from = rows.last[:tick] - @options[:last]
        rows.select { |r| r[:tick] >= from }
      end

      def write_output(chart, format)
        path = @options[:output]
        if format == :svg
          svg = Memwatch::Plot::SVG.new(chart).render
          path == "-" ? out.write(svg) : write_file(path, svg)
        else
          render_png(chart, path)
        end
        err.puts "memwatch: wrote #{path}" unless path == "-"
      end

      def write_gnuplot(chart)
        png = @options[:output].end_with?(".png") ? @options[:output] : @options[:gnuplot].sub(/(\.gp|\.plt)?\z/, ".png")
        write_file(@options[:gnuplot], Memwatch::Plot::Gnuplot.new(chart, output: png).script)
        err.puts "memwatch: wrote #{@options[:gnuplot]} (run: gnuplot #{@options[:gnuplot]})"
      end

      def render_png(chart, path)
        gnuplot = find_gnuplot or raise Error, "#{path}: PNG output needs gnuplot (apt-get install gnuplot-nox); or write .svg"
        require "tempfile"
        Tempfile.create(["memwatch", ".gp"]) do |script|
          script.write(Memwatch::Plot::Gnuplot.new(chart, output: path).script)
          script.flush
          run_gnuplot(gnuplot, script.path, path)
        end
      end

      def run_gnuplot(gnuplot, script, path)
        require "open3"
        output, status = Open3.capture2e(gnuplot, script)
        return if status.success? && File.size?(path)

        raise Error, "#{path}: gnuplot failed: #{output.lines.last&.strip || status}"
      end

      def find_gnuplot
        ENV.fetch("PATH", "").split(File::PATH_SEPARATOR).map { |d| File.join(d, "gnuplot") }.find { |f| File.executable?(f) }
      end

      def write_file(path, data)
        File.write(path, data)
      rescue SystemCallError => e
        raise Error, "#{path}: cannot write: #{e.message.sub(/ @ .*/, '')}"
      end
    end
  end
end
