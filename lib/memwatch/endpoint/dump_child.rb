# frozen_string_literal: true

require "objspace"

module Memwatch
  module Endpoint
    # What runs in the forked dump child, and only there. The child is a copy-on-write
    # snapshot of the worker at fork time: it can take seconds to dump (and GC) without
    # holding up the worker. It reports one line on +report+ and always ends with exit!
    # (no at_exit handlers, no finalizers, no flushing of the worker's buffers twice).
    module DumpChild
      GZIP = ["gzip", "-1", "-c"].freeze # level 1: 19x smaller for dump_all JSON, fast

      module_function

      # call-seq:
      #   DumpChild.run(out, report, gzip:, gc:, since:, max_bytes:, timeout:, env:) -> never returns
      def run(out, report, gzip:, gc:, since:, max_bytes:, timeout:, env:)
        prepare(out, report, max_bytes, timeout, env)
        collect if gc
        bytes = gzip ? dump_gzip(out, since, max_bytes) : dump_raw(out, since)
        finish(report, "ok #{bytes}", 0)
      rescue Errno::EFBIG
        finish(report, "too_big", 3)
      rescue Errno::ENOSPC
        finish(report, "no_space", 3)
      rescue Exception => e # rubocop:disable Lint/RescueException -- the child must reach exit!
        finish(report, "error #{e.class}: #{e.message}", 1)
      end

      def finish(report, line, code)
        begin
          report.syswrite("#{line.tr("\r\n", "  ")[0, 300]}\n")
        rescue StandardError
          nil # the worker is gone or gave up; nothing to tell
        end
        exit!(code)
      end

      def prepare(out, report, max_bytes, timeout, env)
        default_signals
        stop_sampler
        close_sockets([out.fileno, report.fileno])
        limit_file_size(max_bytes)
        redact(env)
        Thread.new { sleep(timeout) && finish(report, "timeout", 4) }
      end

      # The worker's traps (Puma's TERM, INT...) would run server code that has no threads
      # here: a signal simply ends the child.
      def default_signals
        %w[TERM INT QUIT HUP USR1 USR2].each { |sig| Signal.trap(sig, "DEFAULT") }
      end

      # Only live objects then (also not the chunks of an earlier dump, still unswept).
      # No compaction: moving every object would copy the whole heap (copy-on-write).
      def collect
        GC.auto_compact = false if GC.respond_to?(:auto_compact=)
        GC.start(full_mark: true, immediate_sweep: true)
      end

      # The sampler is not wanted here (memwatch's fork hook may have restarted it).
      def stop_sampler
        Memwatch.stop if Memwatch.respond_to?(:running?) && Memwatch.running?
      rescue StandardError
        nil
      end

      # The child must not keep the worker's listening or client sockets open: a closed
      # connection would stay half-open, and a restarted Puma's port still held, until the
      # dump ends. Files (the log, the dump, the lock) stay.
      def close_sockets(keep)
        Dir.children("/proc/self/fd").each do |name|
          fd = name.to_i
          next if fd <= 2 || keep.include?(fd)
          IO.for_fd(fd, autoclose: true).close if File.stat("/proc/self/fd/#{fd}").socket?
        rescue SystemCallError, IOError, ArgumentError
          next
        end
      end

      # Writes past dump_max_bytes fail with EFBIG (SIGXFSZ ignored; gzip inherits both).
      def limit_file_size(max_bytes)
        Signal.trap("XFSZ", "IGNORE")
        _, hard = Process.getrlimit(Process::RLIMIT_FSIZE)
        Process.setrlimit(Process::RLIMIT_FSIZE, [max_bytes, hard].min, hard)
      end

      # The dump holds every string anyway; at least not the caller's own token.
      def redact(env)
        auth = env["HTTP_AUTHORIZATION"]
        auth.replace("[redacted by memwatch]") if auth.is_a?(String) && !auth.frozen?
      end

      def dump_raw(out, since)
        ObjectSpace.dump_all(output: out, since: since)
        out.flush
        out.size
      end

      # gzip runs as its own process (spawned, not forked: no fork hooks), so no Ruby
      # buffers of compressed data exist in the heap being dumped.
      def dump_gzip(out, since, max_bytes)
        gz = IO.popen(GZIP, "wb", out: out, err: File::NULL)
        begin
          ObjectSpace.dump_all(output: gz, since: since)
        rescue Errno::EPIPE
          nil # gzip stopped early; its exit status says why
        end
        status = close_child(gz)
        return out.size if status&.success?
        raise Errno::EFBIG if out.size >= max_bytes
        raise "gzip failed (#{status.inspect})"
      end

      def close_child(io)
        pid = io.pid
        io.close
        $?
      rescue Errno::EPIPE # the last flush found gzip gone; reap it all the same
        begin
          Process.wait2(pid)[1]
        rescue Errno::ECHILD
          $?
        end
      end
    end
  end
end
