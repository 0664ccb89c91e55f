# frozen_string_literal: true

require "memwatch/cli/command"

module Memwatch
  module CLI
    # `memwatch version`: the gem version (and, with --json, Ruby and platform).
    class Version < Command
      private

      def banner
        "Usage: memwatch version [--json]"
      end

      def define_options(opts)
        json_option(opts)
      end

      def execute(args)
        no_extra_args(args)
        if @options[:json]
          print_json(memwatch: Memwatch::VERSION, ruby: RUBY_VERSION, platform: RUBY_PLATFORM)
        else
          out.puts "memwatch #{Memwatch::VERSION}"
        end
        OK
      end
    end
  end
end
