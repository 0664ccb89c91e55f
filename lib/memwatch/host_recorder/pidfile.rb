# frozen_string_literal: true

module Memwatch
  class HostRecorder
    # A pidfile held under flock(2) for the recorder's lifetime: a second recorder on the
    # same directory is refused, and a pidfile left by a killed recorder is not mistaken for
    # a running one (its lock died with it).
    class Pidfile
      # Another recorder holds the pidfile.
      class Busy < StandardError; end

      attr_reader :path

      def initialize(path)
        @path = path
        @io = nil
      end

      # call-seq:
      #   pidfile.acquire -> self
      #
      # Raises Busy when a live recorder holds it.
      def acquire
        io = File.open(@path, File::RDWR | File::CREAT, 0o644)
        unless io.flock(File::LOCK_EX | File::LOCK_NB)
          pid = io.read.to_i
          io.close
          raise Busy, "#{@path}: a recorder is already running (pid #{pid}); stop it with `memwatch record --stop`"
        end
        @io = io
        self
      end

      # call-seq:
      #   pidfile.write(pid) -> pid
      def write(pid = Process.pid)
        @io.truncate(0)
        @io.pwrite("#{pid}\n", 0)
        pid
      end

      # Removes the file if it still names this process, then unlocks.
      def release
        return unless @io

        File.delete(@path) if File.read(@path).to_i == Process.pid
      rescue SystemCallError
        nil
      ensure
        @io&.close
        @io = nil
      end

      # call-seq:
      #   Pidfile.running(path) -> pid or nil
      #
      # The pid of the live recorder holding +path+, nil when none (a stale file is removed).
      def self.running(path)
        File.open(path, File::RDWR) do |io|
          pid = io.read.to_i
          return pid unless io.flock(File::LOCK_EX | File::LOCK_NB)

          File.delete(path)
          nil
        end
      rescue Errno::ENOENT
        nil
      end
    end
  end
end
