# frozen_string_literal: true

require "memwatch/cli/client_command"

module Memwatch
  module CLI
    # `memwatch dump URL -o FILE`: asks the app for a heap dump (taken in a forked child) and
    # streams it to FILE, showing progress on a terminal. The file holds every string of
    # the process, secrets included: it is created mode 0600.
    class Dump < ClientCommand
      EXIT_CODES = <<~TEXT
        Exit codes: 0 dump written, 2 error (bad URL or arguments, connection refused, timeout,
        401 wrong or missing token, 403 dumps disabled, 429 a dump is already running).
      TEXT

      private

      def banner
        <<~TEXT.chomp
          Usage: memwatch dump URL -o FILE [--gzip] [--gc] [--timeout SECONDS]

          Needs the endpoint's token in $MEMWATCH_TOKEN (or --token-file) and dumps enabled in
          the app. FILE ending in .gz asks for a gzipped dump. Then: memwatch heap summary FILE.
        TEXT
      end

      def define_options(opts)
        opts.on("-o", "--output FILE", "where to write the dump (required)") { |v| @options[:output] = v }
        opts.on("--gzip", "ask for a gzipped dump (default when FILE ends in .gz)") { @options[:gzip] = true }
        opts.on("--gc", "run a full GC in the dump child first") { @options[:gc] = true }
        client_options(opts, timeout: 300.0)
      end

      def execute(args)
        path = @options[:output] or raise UsageError, "missing -o FILE"
        http = client(args)
        query = { gzip: (@options[:gzip] || path.end_with?(".gz")) ? 1 : nil, gc: @options[:gc] ? 1 : nil }
        size = download(http, query, path)
        out.puts "memwatch: wrote #{path} (#{bytes(size)}); it holds every string of the process, secrets included: keep it private"
        OK
      end

      # Written to FILE.part and renamed when complete, so FILE is never a truncated dump.
      def download(http, query, path)
        part = "#{path}.part"
        file = File.open(part, File::WRONLY | File::CREAT | File::TRUNC, 0o600)
        got, total = stream(http, query, file)
        file.close
        raise Error, "#{http.url('/heap_dump')}: transfer cut short (#{got} of #{total} bytes)" if total && got < total

        File.rename(part, path)
        got
      rescue SystemCallError => e
        raise Error, "#{path}: cannot write: #{e.message.sub(/ @ .*/, '')}"
      ensure
        file&.close
        File.delete(part) if part && File.exist?(part)
      end

      def stream(http, query, file)
        got = 0
        total = nil
        progress = Progress.new(err)
        http.post_stream("/heap_dump", query, read_timeout: @options[:timeout]) do |res, chunk|
          next total = res["content-length"]&.to_i unless chunk

          file.write(chunk)
          got += chunk.bytesize
          progress.update(got, total)
        end
        progress.finish
        [got, total]
      end

      # A one-line progress meter, redrawn in place; silent when stderr is not a terminal.
      class Progress
        def initialize(io)
          @io = io
          @tty = io.respond_to?(:tty?) && io.tty?
          @started = Process.clock_gettime(Process::CLOCK_MONOTONIC)
          @last = 0.0
        end

        def update(got, total)
          return unless @tty

          now = Process.clock_gettime(Process::CLOCK_MONOTONIC)
          return if now - @last < 0.2

          @last = now
          pct = total&.positive? ? format(" %3d%%", got * 100 / total) : ""
          rate = got / [now - @started, 0.001].max
          @io.print "\rdownloading#{pct} #{Format.bytes(got)}#{total ? " of #{Format.bytes(total)}" : ''} (#{Format.bytes(rate.round)}/s)\e[K"
        end

        def finish
          @io.print "\r\e[K" if @tty
        end
      end
    end
  end
end
