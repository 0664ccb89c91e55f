# frozen_string_literal: true

require "memwatch/cli/client_command"

module Memwatch
  module CLI
    # `memwatch samples URL`: the app's recent samples as a memwatch log (TSV, ready for
    # `memwatch summary` and `memwatch plot`), or as JSON.
    class Samples < ClientCommand
      EXIT_CODES = "Exit codes: 0 ok, 2 error (bad URL or arguments, connection refused, timeout, 401/403/404/429)."
      AGO = /\A(\d+(?:\.\d+)?)([smhd])\z/.freeze

      private

      def banner
        <<~TEXT.chomp
          Usage: memwatch samples URL [--since TIME] [--limit N] [--resolution recent|long|all] [--json]

          Prints the samples held by the running app, oldest first, as TSV in the log format
          (memwatch samples URL > app.tsv; memwatch plot app.tsv), or with --json as
          {"columns": [...], "rows": [[...]]}.
        TEXT
      end

      def define_options(opts)
        opts.on("--since TIME", "samples after TIME: epoch seconds, or an age like 10m, 2h") { |v| @options[:since] = since_arg(v) }
        opts.on("--limit N", Integer, "at most N samples (the newest)") do |v|
          raise OptionParser::InvalidArgument, v.to_s unless v.positive?

          @options[:limit] = v
        end
        opts.on("--resolution KIND", %w[recent long all], "recent (default), long (downsampled) or all") { |v| @options[:resolution] = v }
        json_option(opts)
        client_options(opts)
      end

      def execute(args)
        http = client(args)
        query = { since: @options[:since], limit: @options[:limit], resolution: @options[:resolution] }
        if @options[:json]
          print_json(http.get_json("/samples", query))
        else
          out.write(http.get_text("/samples.tsv", query))
        end
        OK
      end

      def since_arg(text)
        if (m = AGO.match(text))
          return Time.now.to_f - m[1].to_f * { "s" => 1, "m" => 60, "h" => 3600, "d" => 86_400 }[m[2]]
        end

        Float(text)
      rescue ArgumentError
        raise OptionParser::InvalidArgument, "#{text} (epoch seconds, or an age like 10m)"
      end
    end
  end
end
