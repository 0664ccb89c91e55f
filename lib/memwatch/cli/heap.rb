# frozen_string_literal: true

require "memwatch/cli/client_command"
require "memwatch/heap"
require "memwatch/heap/text"

module Memwatch
  module CLI
    # `memwatch heap summary DUMP` and `memwatch heap diff A B C`: heap dumps read in C
    # (streamed, gzip or plain), printed as text or --json.
    class Heap < ClientCommand
      EXIT_CODES = "Exit codes: 0 ok, 2 error (bad arguments, unreadable or malformed dump, endpoint refusal)."
      SUBCOMMANDS = %w[summary diff capture].freeze

      private

      def banner
        <<~TEXT.chomp
          Usage: memwatch heap summary DUMP [options]
                 memwatch heap diff A B C [options]
                 memwatch heap capture URL -o DIR [--every SECONDS] [options]

          summary: objects and bytes of one dump by type, class, generation and allocation site.
          diff:    the retained set: objects born after dump A, alive in B and still alive in C,
                   by allocation site and class. Take A, B, C a few minutes apart under load,
                   with allocation tracing on (POST /memwatch/tracing/start) so objects carry
                   their file:line and generation.
          capture: does that for you through the app's endpoint (token in $MEMWATCH_TOKEN,
                   dumps enabled): tracing on, dumps A, B, C every SECONDS into DIR, tracing
                   off, then the diff.
          Dumps are ObjectSpace.dump_all files, plain or gzip'ed.
        TEXT
      end

      def define_options(opts)
        @options[:top] = 20
        @options[:sort] = :bytes
        opts.on("--top N", Integer, "rows per table (default 20)") { |n| @options[:top] = positive(n, "--top") }
        opts.on("--sort KEY", %w[bytes count], "order rows by bytes (default) or count") { |s| @options[:sort] = s.to_sym }
        opts.on("--since GEN", Integer, "summary: only objects of generation GEN or newer") { |g| @options[:since] = g }
        opts.on("--no-address", "diff: ignore objects without a generation (no address matching)") { @options[:by_address] = false }
        opts.on("--threads N", Integer, "json-c parser threads (default: CPUs, at most 4)") { |n| @options[:threads] = n }
        opts.on("--max-line-bytes N", Integer, "longest dump line accepted (default 256 MiB)") { |n| @options[:max_line_bytes] = n }
        opts.on("-o", "--output DIR", "capture: directory for a.json.gz, b.json.gz, c.json.gz") { |d| @options[:output] = d }
        opts.on("--every SECONDS", Float, "capture: seconds between dumps (default 60)") { |s| @options[:every] = s }
        opts.on("--no-tracing", "capture: do not turn allocation tracing on") { @options[:tracing] = false }
        json_option(opts)
        client_options(opts, timeout: 300.0)
      end

      def execute(args)
        sub = args.shift
        raise UsageError, "missing subcommand (#{SUBCOMMANDS.join(" or ")})" unless sub
        raise UsageError, "unknown subcommand #{sub.inspect} (#{SUBCOMMANDS.join(" or ")})" unless SUBCOMMANDS.include?(sub)

        __send__(sub, args)
      rescue Memwatch::Heap::Error => e
        raise Error, e.message
      end

      def summary(args)
        need_args(args, 1, "DUMP")
        no_extra_args(args.drop(1))
        result = Memwatch::Heap.summary(args.first, since: @options[:since], **limits)
        report(result) { Memwatch::Heap::Text.summary(result, top: @options[:top], sort: @options[:sort]) }
      end

      def diff(args)
        need_args(args, 3, "dumps (A B C: before, after, later)")
        no_extra_args(args.drop(3))
        result = Memwatch::Heap.diff(*args.first(3), by_address: @options.fetch(:by_address, true), **limits)
        report(result) { Memwatch::Heap::Text.diff(result, top: @options[:top], sort: @options[:sort]) }
      end

      def capture(args)
        dir = @options[:output] or raise UsageError, "missing -o DIR"
        every = @options.fetch(:every, 60.0)
        raise UsageError, "--every must be positive" unless every.positive?

        capture = Memwatch::Heap::Capture.new(client(args), dir: dir, every: every, trace: @options.fetch(:tracing, true),
                                                            timeout: @options[:timeout], log: ->(line) { err.puts "memwatch: #{line}" })
        diff(capture.run)
      end

      def limits = { threads: @options[:threads], max_line_bytes: @options[:max_line_bytes] }

      def report(result)
        if @options[:json]
          print_json(result.to_h(top: @options[:top], sort: @options[:sort]))
        else
          out.puts yield
        end
        OK
      end

      def positive(n, flag)
        raise UsageError, "#{flag} must be at least 1" if n < 1

        n
      end
    end
  end
end
