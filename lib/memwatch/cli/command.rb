# frozen_string_literal: true

require "optparse"
require "json"
require "memwatch/cli"
require "memwatch/log_reader"
require "memwatch/cli/format"

module Memwatch
  module CLI
    # A one-line error for the user; exits with status 2.
    class Error < StandardError; end

    # Bad arguments; the message is followed by a pointer to --help.
    class UsageError < Error; end

    # Base of every subcommand: option parsing, --help, error lines and exit codes, so each
    # command only defines #define_options and #execute.
    class Command
      include Format

      EXIT_CODES = "Exit codes: 0 ok, 2 error."

      class << self
        # call-seq:
        #   Command.run(argv, out: $stdout, err: $stderr) -> Integer
        def run(argv, out: $stdout, err: $stderr)
          new(out: out, err: err).run(argv)
        end

        # The subcommand's name, from the registry.
        def command_name
          CLI::COMMANDS.find { |_, (_, const)| const.to_s == name.split("::").last }&.first
        end
      end

      attr_reader :out, :err, :options

      def initialize(out:, err:)
        @out = out
        @err = err
        @options = {}
      end

      # call-seq:
      #   command.run(argv) -> Integer
      def run(argv)
        args = parser.parse(argv)
        return help if @options[:help]

        execute(args)
      rescue OptionParser::ParseError, UsageError => e
        fail_line("#{name}: #{e.message} (see `memwatch #{name} --help`)")
      rescue Error, LogReader::Error => e
        fail_line(e.message)
      rescue Errno::EPIPE
        OK # the reader of our output went away (`| head`)
      rescue Interrupt
        130
      rescue StandardError => e
        raise if ENV["MEMWATCH_DEBUG"]

        fail_line("#{name}: internal error: #{e.class}: #{e.message[0, 200]} (MEMWATCH_DEBUG=1 shows a backtrace)")
      end

      private

      def name
        self.class.command_name
      end

      def parser
        @parser ||= OptionParser.new do |opts|
          opts.banner = banner
          opts.separator ""
          define_options(opts)
          opts.on("-h", "--help", "show this help") { @options[:help] = true }
        end
      end

      def help
        out.puts parser.help, "", self.class::EXIT_CODES
        OK
      end

      def fail_line(message)
        err.puts "memwatch: #{message}"
        ERROR
      end

      def warn_line(message)
        err.puts "memwatch: warning: #{message}"
      end

      def json_option(opts)
        opts.on("--json", "print JSON instead of text") { @options[:json] = true }
      end

      def print_json(data)
        out.puts JSON.pretty_generate(finite(data))
      end

      # JSON has no Infinity or NaN: an unbounded or undefined number is null.
      def finite(value)
        case value
        when Hash then value.transform_values { |v| finite(v) }
        when Array then value.map { |v| finite(v) }
        when Float then value.finite? ? value : nil
        else value
        end
      end

      def need_args(args, min, what)
        raise UsageError, "missing #{what}" if args.size < min
      end

      def no_extra_args(args)
        raise UsageError, "unexpected argument #{args.first.inspect}" unless args.empty?
      end
    end
  end
end
