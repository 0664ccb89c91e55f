# frozen_string_literal: true

require "memwatch/version"

module Memwatch
  # The `memwatch` command. Subcommands are found through COMMANDS and loaded on demand, so
  # commands that only read files never load the native extension.
  #
  # Exit codes (doc/internals.md "CLI"): 0 ok / no leak, 1 leak found, 2 error,
  # 3 insufficient data.
  module CLI
    OK = 0
    LEAK = 1
    ERROR = 2
    INSUFFICIENT = 3

    # name => [file to require, class name under Memwatch::CLI, one-line description]
    COMMANDS = {
      "summary" => ["memwatch/cli/summary", :Summary, "figures and the verdict of a log"],
      "plot" => ["memwatch/cli/plot", :Plot, "chart logs over time (SVG, PNG, gnuplot script)"],
      "record" => ["memwatch/cli/record", :Record, "record every process and the host (--all)"],
      "top" => ["memwatch/cli/top", :Top, "rank recorded processes by growth rate"],
      "status" => ["memwatch/cli/status", :Status, "status and verdict of a running app"],
      "samples" => ["memwatch/cli/samples", :Samples, "recent samples of a running app"],
      "dump" => ["memwatch/cli/dump", :Dump, "download a heap dump from a running app"],
      "watch" => ["memwatch/cli/watch", :Watch, "live view of a running app"],
      "heap" => ["memwatch/cli/heap", :Heap, "summarise or diff heap dumps"],
      "doctor" => ["memwatch/cli/doctor", :Doctor, "what this environment allows, and fixes"],
      "version" => ["memwatch/cli/version", :Version, "print the version"],
      "help" => [nil, nil, "list commands, or show a command's help"]
    }.freeze

    class << self
      # call-seq:
      #   Memwatch::CLI.run(argv, out: $stdout, err: $stderr) -> Integer
      #
      # Runs one subcommand and returns its exit status.
      def run(argv, out: $stdout, err: $stderr)
        argv = argv.dup
        name = argv.shift
        case name
        when nil, "help", "-h", "--help" then help(argv, out, err)
        when "-v", "--version" then command("version", err)&.run([], out: out, err: err) || ERROR
        else dispatch(name, argv, out, err)
        end
      end

      # call-seq:
      #   Memwatch::CLI.usage -> String
      def usage
        width = COMMANDS.keys.map(&:size).max
        lines = COMMANDS.map { |name, (_, _, desc)| format("  %-#{width}s  %s", name, desc) }
        <<~TEXT
          Usage: memwatch COMMAND [options] [arguments]

          Commands:
          #{lines.join("\n")}

          `memwatch COMMAND --help` shows a command's options.
          Exit codes: 0 ok / no leak, 1 leak found, 2 error, 3 insufficient data.
        TEXT
      end

      private

      def dispatch(name, argv, out, err)
        klass = command(name, err) or return ERROR
        klass.run(argv, out: out, err: err)
      end

      def help(argv, out, err)
        return dispatch(argv.first, ["--help"], out, err) if argv.first && argv.first != "help"

        out.print usage
        OK
      end

      # Loads a command's file; a missing optional command is an error line, not a crash.
      def command(name, err)
        file, const, = COMMANDS[name]
        unless file
          err.puts "memwatch: unknown command #{name.inspect} (see `memwatch help`)"
          return nil
        end
        require file
        const_get(const)
      rescue LoadError => e
        raise unless e.path == file || e.message.include?(file)

        err.puts "memwatch: #{name}: not available in this installation (#{e.message})"
        nil
      end
    end
  end
end
