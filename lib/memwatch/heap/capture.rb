# frozen_string_literal: true

require "fileutils"
require "memwatch/heap/manifest"

module Memwatch
  module Heap
    # The guided workflow for the three-dump diff: from a running app's endpoint, turn
    # allocation tracing on (when the app allows it), take dumps A, B and C +every+ seconds
    # apart (each in a forked child of the worker, gzipped, after a GC in the child), and
    # turn tracing off again. The files are mode 0600 in +dir+: they hold every string of
    # the process, secrets included.
    class Capture
      NAMES = %w[a b c].freeze
      RETRIES = 3 # 429 answers (a dump in progress, or the cooldown) waited out per dump

      # +client+ is a Memwatch::CLI::HttpClient; +log+ gets progress lines.
      def initialize(client, dir:, every:, trace: true, timeout: 300, log: ->(_line) {}, sleeper: ->(s) { sleep(s) })
        raise ArgumentError, "every must be positive" unless every.positive?

        @client = client
        @dir = dir
        @every = every
        @trace = trace
        @timeout = timeout
        @log = log
        @sleeper = sleeper
      end

      # call-seq:
      #   capture.run -> [a_path, b_path, c_path]
      def run
        FileUtils.mkdir_p(@dir, mode: 0o700)
        traced = @trace && start_tracing
        NAMES.each_with_index.map do |name, i|
          @sleeper.call(@every) if i.positive?
          download(File.join(@dir, "#{name}.json.gz"))
        end
      ensure
        stop_tracing if traced
      end

      private

      # Tracing costs the app 6-14x on allocation-heavy code: ask for just long enough
      # (two intervals and a minute for the dumps); it is stopped after C anyway.
      def start_tracing
        seconds = (@every * 2 + 60).ceil
        post("/tracing/start", seconds: seconds)
        @log.call("allocation tracing on (stops by itself within #{seconds}s)")
        true
      rescue CLI::Error => e
        @log.call("allocation tracing not started (#{e.message}): objects will be matched by address")
        false
      end

      def stop_tracing
        post("/tracing/stop")
        @log.call("allocation tracing off")
      rescue CLI::Error => e
        @log.call("could not stop allocation tracing (#{e.message}); it stops by itself at its deadline")
      end

      def post(path, query = {})
        @client.post_stream(path, query, read_timeout: 30) { |_res, _chunk| nil }
      end

      # Written to PATH.part and renamed when complete, so PATH is never a cut dump.
      def download(path, attempt = 1)
        part = "#{path}.part"
        manifest = nil
        File.open(part, File::WRONLY | File::CREAT | File::TRUNC, 0o600) do |file|
          @client.post_stream("/heap_dump", { gc: 1, gzip: 1 }, read_timeout: @timeout) do |res, chunk|
            chunk ? file.write(chunk) : manifest = res["x-memwatch-manifest"]
          end
        end
        File.rename(part, path)
        Manifest.write(path, manifest) or @log.call("no manifest with #{path}: the diff will infer GC counts")
        @log.call("wrote #{path} (#{File.size(path)} bytes)")
        path
      rescue CLI::Error => e
        wait = e.message[/ 429 .*retry after (\d+)s/, 1]
        raise unless wait && attempt < RETRIES

        @log.call("the app is busy with another dump; retrying in #{wait}s")
        @sleeper.call(Integer(wait) + 1)
        download(path, attempt + 1)
      ensure
        File.delete(part) if File.exist?(part)
      end
    end
  end
end
