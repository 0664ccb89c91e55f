# frozen_string_literal: true

require "memwatch/cli/command"
require "memwatch/cli/http_client"
require "memwatch/cli/verdicts"

module Memwatch
  module CLI
    # Base of the commands that talk to a running app (status, samples, dump, watch): the
    # URL argument, --timeout and --token-file, and the verdict's exit code.
    class ClientCommand < Command
      private

      def client_options(opts, timeout: 10.0)
        @options[:timeout] = timeout
        opts.on("--timeout SECONDS", Float, "give up after SECONDS without an answer (default #{timeout.to_i})") do |v|
          raise OptionParser::InvalidArgument, v.to_s unless v.positive?

          @options[:timeout] = v
        end
        opts.on("--token-file FILE", "read the bearer token from FILE (default: $MEMWATCH_TOKEN)") { |v| @options[:token_file] = v }
      end

      def client(args)
        need_args(args, 1, "URL")
        raise UsageError, "unexpected argument #{args[1].inspect}" if args.size > 1

        HttpClient.new(args.first, token: token, timeout: @options[:timeout])
      end

      def token
        return ENV.fetch("MEMWATCH_TOKEN", nil) unless @options[:token_file]

        File.read(@options[:token_file]).strip
      rescue SystemCallError => e
        raise Error, "#{@options[:token_file]}: cannot read token: #{e.message.sub(/ @ .*/, '')}"
      end

      # 1 when the app's verdict claims a leak, 3 without a verdict yet, else 0.
      def verdict_exit(verdict)
        return INSUFFICIENT unless verdict.is_a?(Hash) && verdict["kind"]
        return LEAK if verdict["leak"] == true
        return INSUFFICIENT if verdict["kind"] == "insufficient_data"
        return Verdicts.exit_code_for(verdict["kind"]) unless verdict.key?("leak")

        OK
      end

      def verdict_text(verdict)
        return "none yet" unless verdict.is_a?(Hash) && verdict["kind"]

        text = verdict["kind"].dup
        text << " (#{verdict['level']})" if verdict["level"]
        text << ": #{verdict['explanation']}" unless verdict["explanation"].to_s.empty?
        text
      end
    end
  end
end
