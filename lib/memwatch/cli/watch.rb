# frozen_string_literal: true

require "memwatch/cli/client_command"

module Memwatch
  module CLI
    # `memwatch watch URL`: a live view of a running app, redrawn every --interval seconds
    # on a terminal (one line per refresh otherwise). Ctrl-C ends it.
    class Watch < ClientCommand
      EXIT_CODES = "Exit codes: 0 stopped (Ctrl-C or --count reached), 2 error (the first request failed, bad arguments)."
      SPARKS = "▁▂▃▄▅▆▇█"
      HISTORY = 60

      private

      def banner
        <<~TEXT.chomp
          Usage: memwatch watch URL [--interval SECONDS] [--count N] [--timeout SECONDS]

          Shows RSS, the Ruby heap, the allocator and the verdict of a running app, with an
          RSS sparkline of the last #{HISTORY} samples. Later connection errors are shown and retried.
        TEXT
      end

      def define_options(opts)
        @options[:interval] = 2.0
        opts.on("-i", "--interval SECONDS", Float, "refresh every SECONDS (default 2)") do |v|
          raise OptionParser::InvalidArgument, v.to_s unless v >= 0.1

          @options[:interval] = v
        end
        opts.on("-n", "--count N", Integer, "stop after N refreshes") do |v|
          raise OptionParser::InvalidArgument, v.to_s unless v.positive?

          @options[:count] = v
        end
        client_options(opts, timeout: 5.0)
      end

      def execute(args)
        http = client(args)
        tty = out.respond_to?(:tty?) && out.tty?
        n = 0
        loop do
          view = fetch(http, n)
          tty ? out.print("\e[H\e[2J", screen(http, view)) : out.puts(line(view))
          n += 1
          break if @options[:count] && n >= @options[:count]

          sleep @options[:interval]
        end
        OK
      rescue Interrupt
        out.puts
        OK
      end

      # The first failure is an error; later ones are shown and the view keeps polling.
      def fetch(http, n)
        status = http.get_json("/status")
        rows = http.get_json("/samples", limit: HISTORY)
        { status: status, rss: rss_history(rows) }
      rescue Error => e
        raise if n.zero?

        { error: e.message }
      end

      def rss_history(doc)
        i = Array(doc["columns"]).index("rss_bytes") or return []
        Array(doc["rows"]).filter_map { |r| r[i] }
      end

      def screen(http, view)
        lines = ["memwatch watch #{http.base}   #{Time.now.strftime('%H:%M:%S')}   every #{@options[:interval]}s, Ctrl-C to quit", ""]
        return (lines << "connection lost: #{view[:error]} (retrying)").join("\n") << "\n" if view[:error]

        s = view[:status]
        latest = s["latest"] || {}
        m = s["memwatch"] || {}
        lines << "pid #{m['pid']}  allocator #{m['allocator']}  sampler #{m['running'] ? 'running' : 'stopped'}"
        lines << format("RSS        %12s   %s", bytes(latest["rss_bytes"]), spark(view[:rss]))
        lines << format("Ruby heap  %12s   live slots %s, old objects %s", bytes(latest["ruby_heap_bytes"]),
                        count(latest["heap_live_slots"]), count(latest["old_objects"]))
        alloc = latest["je_allocated_bytes"] || latest["glibc_in_use_bytes"]
        lines << format("allocator  %12s   in use", bytes(alloc)) if alloc
        lines << "" << "verdict: #{verdict_text(s['verdict'])}"
        lines.join("\n") << "\n"
      end

      def line(view)
        return "#{Time.now.strftime('%H:%M:%S')} connection lost: #{view[:error]}" if view[:error]

        latest = view[:status]["latest"] || {}
        "#{Time.now.strftime('%H:%M:%S')} rss=#{bytes(latest['rss_bytes'])} ruby_heap=#{bytes(latest['ruby_heap_bytes'])} " \
          "verdict=#{view[:status].dig('verdict', 'kind') || 'none'}"
      end

      def spark(values)
        return "" if values.size < 2

        lo, hi = values.minmax
        span = [hi - lo, 1].max
        values.map { |v| SPARKS[((v - lo) * (SPARKS.size - 1) / span).round] }.join +
          "  #{bytes(lo)}..#{bytes(hi)}"
      end
    end
  end
end
