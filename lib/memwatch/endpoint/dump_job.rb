# frozen_string_literal: true

require "io/wait"

module Memwatch
  module Endpoint
    # The worker's side of one heap dump: an unlinked file in the private dump_dir (so the
    # dump never lies on disk under a name, and its space goes with the last descriptor),
    # the fork, and a bounded wait for the child's one-line report. The request thread
    # waits in IO#wait_readable, without the GVL: the worker keeps serving meanwhile.
    class DumpJob
      GRACE = 2.0 # seconds past dump_timeout before the worker kills the child itself

      attr_reader :fork_ms

      def initialize(config, opts, env)
        @config = config
        @opts = opts
        @env = env
        @pid = nil
      end

      def forked? = !@pid.nil?

      # call-seq:
      #   job.run(id) -> [io, bytes]   (io positioned at the dump's start; raises Refused)
      def run(id)
        raise Refused.new(501, "heap dumps need fork(2), which this platform lacks") unless Process.respond_to?(:fork)
        writer, reader = open_file(id)
        report_r, report_w = IO.pipe
        begin
          @pid = fork_child(writer, report_w)
          [writer, report_w].each(&:close)
          [reader, result(wait_report(report_r))]
        rescue StandardError
          reader.close
          raise
        ensure
          [writer, report_r, report_w].each { |io| io.close unless io.closed? }
        end
      end

      private

      def clock = Process.clock_gettime(Process::CLOCK_MONOTONIC)

      def open_file(id)
        path = File.join(@config.dump_dir, "heap-#{id}.tmp")
        writer = File.open(path, File::WRONLY | File::CREAT | File::EXCL | File::BINARY, 0o600)
        begin
          [writer, File.open(path, "rb")]
        ensure
          File.unlink(path)
        end
      end

      # Memwatch.internal_fork: memwatch's fork hook does not restart the sampler (and
      # open a log) in this short-lived child.
      def fork_child(writer, report_w)
        args = { gzip: @opts[:gzip], gc: @opts[:gc], since: @opts[:since], env: @env,
                 max_bytes: @config.dump_max_bytes, timeout: @config.dump_timeout }
        child = -> { DumpChild.run(writer, report_w, **args) }
        t = clock
        pid = Memwatch.respond_to?(:internal_fork) ? Memwatch.internal_fork(&child) : Process.fork(&child)
        @fork_ms = ((clock - t) * 1000).round(2)
        pid
      end

      # The child's report line, or nil on timeout. EOF means the child has exited.
      def wait_report(report_r)
        deadline = clock + @config.dump_timeout + GRACE
        line = +""
        loop do
          remaining = deadline - clock
          return nil unless remaining.positive?
          next unless report_r.wait_readable(remaining)
          chunk = report_r.read_nonblock(512, exception: false)
          return line.strip if chunk.nil?
          line << chunk if chunk.is_a?(String)
        end
      end

      def result(line)
        kill if line.nil?
        status = reap
        case line
        when /\Aok (\d+)\z/ then Regexp.last_match(1).to_i
        when "too_big" then fail!(507, "heap dump exceeded dump_max_bytes (#{@config.dump_max_bytes} bytes)")
        when "no_space" then fail!(507, "no space left in dump_dir for the heap dump")
        when nil, "timeout" then fail!(503, "heap dump took longer than dump_timeout (#{@config.dump_timeout} s)")
        when /\Aerror (.*)\z/ then fail!(500, "heap dump failed in the child: #{Regexp.last_match(1)}")
        else fail!(500, "the dump child died without a report (#{describe(status)})")
        end
      end

      def fail!(status, reason) = raise(Refused.new(status, reason))

      def kill
        Process.kill(:KILL, @pid)
      rescue Errno::ESRCH
        nil
      end

      def reap
        Process.wait2(@pid)[1]
      rescue Errno::ECHILD
        nil # reaped by someone else's SIGCHLD handler; the report line is what counts
      end

      def describe(status)
        return "status unknown" unless status
        status.signaled? ? "signal #{status.termsig}" : "exit #{status.exitstatus}"
      end
    end
  end
end
