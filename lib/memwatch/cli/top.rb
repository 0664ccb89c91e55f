# frozen_string_literal: true

require "memwatch/cli/command"
require "memwatch/cli/log_args"
require "memwatch/cli/verdicts"
require "memwatch/cli/host_verdict"

module Memwatch
  module CLI
    # `memwatch top DIR`: the processes of a `record --all` log ranked by growth rate, and
    # host memory growth that no process accounts for.
    class Top < Command
      EXIT_CODES = <<~TEXT
        Exit codes: 0 nothing grows, 1 a process grows or host memory grows outside every
        process, 2 error, 3 insufficient data (fewer than 3 host samples).
      TEXT
      Ranking = Memwatch::HostRecorder::Ranking
      include HostVerdict

      private

      def banner
        <<~TEXT.chomp
          Usage: memwatch top DIR|LOG [--limit N] [--json] [--skip-start SECONDS] [--min-samples N]

          Ranks the processes recorded by `memwatch record --all` by growth rate (Theil–Sen
          slope of RSS, per hour), and reports host memory growth outside any process
          (kernel slab, tmpfs, ...).
        TEXT
      end

      def define_options(opts)
        @options[:limit] = 10
        opts.on("-n", "--limit N", Integer, "processes to list (default 10)") do |v|
          raise OptionParser::InvalidArgument, v.to_s unless v.positive?

          @options[:limit] = v
        end
        opts.on("--skip-start SECONDS", Float, "ignore each process's first seconds (default 10 intervals)") { |v| @options[:skip_start] = v }
        opts.on("--min-samples N", Integer, "samples a process needs to be ranked (default 5, at least 3)") do |v|
          raise OptionParser::InvalidArgument, v.to_s unless v >= 3

          @options[:min_samples] = v
        end
        json_option(opts)
      end

      def execute(args)
        need_args(args, 1, "DIR")
        reader = host_reader(LogArgs.readers(args))
        rows = reader.to_a
        reader.warnings.each { |w| warn_line(w) }
        ranking = Ranking.new(rows, interval: reader.metadata[:interval], skip_start: @options[:skip_start],
                                    min_samples: @options[:min_samples] || 5)
        code = exit_code(ranking)
        @options[:json] ? print_json(to_json_data(reader, ranking, code)) : print_text(reader, ranking)
        code
      end

      def host_reader(readers)
        found = readers.find { |r| r.metadata[:kind] == "host" }
        found || raise(Error, "#{readers.map { |r| r.paths.last }.join(', ')}: not a `memwatch record --all` log (no \"# kind: host\")")
      end

      def print_text(reader, r)
        out.puts "#{reader.paths.last}: host #{reader.metadata[:hostname]}, #{time(r.t_min)} .. #{time(r.t_max)} " \
                 "(#{duration(r.t_min && r.t_max - r.t_min)}), #{r.host_samples} samples", ""
        out.puts process_table(r.entries.first(@options[:limit])), "" unless r.entries.empty?
        out.puts host_lines(r), "", "verdict: #{verdict_text(r)}"
      end

      def process_table(entries)
        rows = [%w[# pid growth low..high RSS PSS seen command]]
        entries.each_with_index do |e, i|
          rows << [i + 1, e.pid, rate(e.rate), "#{short(e.low)}..#{short(e.high)}", bytes(e.last_rss), bytes(e.pss),
                   "#{duration(e.last_seen - e.first_seen)}#{e.alive ? '' : ' (exited)'}", e.command.to_s[0, 60]]
        end
        table(rows, %i[right right right right right right right left])
      end

      def short(per_hour)
        return "?" unless per_hour.finite?

        rate(per_hour.round).sub(%r{/h\z}, "")
      end

      def host_lines(r)
        h = r.host
        return "host: no memory figures recorded" unless h[:used]

        lines = ["host used memory #{rate(h[:used][:rate])} (now #{bytes(h[:used][:last])}); " \
                 "all processes' RSS #{rate(h[:processes]&.dig(:rate))}; kernel and shared memory, in no process's RSS, " \
                 "#{rate(h[:outside]&.dig(:rate))}"]
        h[:components].each do |col, s|
          lines << "  #{Ranking::COMPONENTS[col].split(' (').first}: #{rate(s[:rate])} (now #{bytes(s[:last])})" if s[:rate].abs >= 1
        end
        lines
      end

      def to_json_data(reader, r, code)
        data = { log: reader.paths.last, hostname: reader.metadata[:hostname], from: r.t_min, to: r.t_max,
                 host_samples: r.host_samples, processes: r.entries.first(@options[:limit]).map(&:to_h),
                 host: r.host.merge(outside_process_growth: r.outside?), verdict: verdict_text(r), exit_code: code }
        plain(data)
      end

      JSON_KEYS = { rate: :bytes_per_hour, low: :low_bytes_per_hour, high: :high_bytes_per_hour,
                    first_rss: :first_rss_bytes, last_rss: :last_rss_bytes, pss: :pss_bytes, first: :first_bytes,
                    last: :last_bytes, used_last: :used_bytes, outside: :outside_processes }.freeze

      # Units in the key names; rates rounded to the byte.
      def plain(value)
        case value
        when Hash then value.to_h { |k, v| [JSON_KEYS.fetch(k, k), plain(v)] }
        when Array then value.map { |v| plain(v) }
        when Float then value.finite? ? value.round(3) : value
        else value
        end
      end
    end
  end
end
