# frozen_string_literal: true

require "memwatch/cli/client_command"

module Memwatch
  module CLI
    # `memwatch status URL`: the running app's latest figures and verdict.
    class Status < ClientCommand
      EXIT_CODES = <<~TEXT
        Exit codes: 0 no leak, 1 the app's verdict is a leak, 2 error (bad URL, connection
        refused, timeout, 401/403/404/429), 3 no verdict yet (insufficient data).
      TEXT
      FIGURES = [["RSS", "rss_bytes"], ["PSS", "pss_bytes"], ["Ruby heap", "ruby_heap_bytes"],
                 ["jemalloc allocated", "je_allocated_bytes"], ["jemalloc resident", "je_resident_bytes"],
                 ["glibc in use", "glibc_in_use_bytes"], ["glibc free", "glibc_free_bytes"],
                 ["cgroup usage", "cgroup_usage_bytes"], ["cgroup limit", "cgroup_limit_bytes"]].freeze

      private

      def banner
        <<~TEXT.chomp
          Usage: memwatch status URL [--json] [--timeout SECONDS] [--token-file FILE]

          URL is where memwatch is mounted, e.g. http://127.0.0.1:9292/memwatch.
          The bearer token, when the endpoint needs one, comes from $MEMWATCH_TOKEN.
        TEXT
      end

      def define_options(opts)
        json_option(opts)
        client_options(opts)
      end

      def execute(args)
        doc = client(args).get_json("/status")
        @options[:json] ? print_json(doc) : print_text(doc)
        verdict_exit(doc["verdict"])
      end

      def print_text(doc)
        m = doc["memwatch"] || {}
        latest = doc["latest"] || {}
        out.puts "pid #{m['pid']}  ruby #{m['ruby']}  memwatch #{m['version']}  allocator #{m['allocator']}  " \
                 "sampler #{m['running'] ? 'running' : 'stopped'}"
        out.puts "sample at #{time(latest['tick'])}" if latest["tick"]
        rows = FIGURES.filter_map { |label, key| [label, bytes(latest[key])] if latest[key] }
        rows += [["live slots", count(latest["heap_live_slots"])], ["old objects", count(latest["old_objects"])]] if latest["heap_live_slots"]
        out.puts table(rows, %i[left right]) unless rows.empty?
        out.puts "verdict: #{verdict_text(doc['verdict'])}"
        out.puts "next step: #{doc.dig('verdict', 'next_step')}" unless doc.dig("verdict", "next_step").to_s.empty?
      end
    end
  end
end
