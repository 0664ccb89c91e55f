# frozen_string_literal: true

module Memwatch
  module Endpoint
    # One heap dump at a time per host: an flock on <dump_dir>/dump.lock, held from before
    # the fork until the response body is closed. It holds across Puma workers and apps
    # (flock locks belong to the open file, so two threads of one process conflict too).
    # The file also records when the last dump finished, for +dump_cooldown+.
    class DumpLock
      BUSY_RETRY = 10

      # call-seq:
      #   DumpLock.acquire(dir, cooldown) -> lock   (raises Refused 429 or 500)
      def self.acquire(dir, cooldown)
        private_dir!(dir)
        file = File.open(File.join(dir, "dump.lock"), File::RDWR | File::CREAT, 0o600)
        unless file.flock(File::LOCK_EX | File::LOCK_NB)
          file.close
          raise Refused.new(429, "a heap dump is already running on this host", "retry-after" => BUSY_RETRY.to_s)
        end
        new(file).tap { |lock| lock.check_cooldown(cooldown) }
      end

      # The directory holds dumps (secrets) for a moment: it must be ours and private, and
      # not a symlink someone else planted in a shared /tmp.
      def self.private_dir!(dir)
        begin
          Dir.mkdir(dir, 0o700)
        rescue Errno::EEXIST
          nil # checked below, whoever made it
        end
        st = File.lstat(dir)
        return if st.directory? && st.owned? && (st.mode & 0o077).zero?
        raise Refused.new(500, "dump_dir #{dir} must be a directory owned by uid #{Process.euid} with mode 0700")
      rescue SystemCallError => e
        raise Refused.new(500, "dump_dir #{dir}: #{e.message}")
      end

      def initialize(file)
        @file = file
      end

      def check_cooldown(cooldown)
        last = @file.read.to_f
        wait = cooldown - (Time.now.to_f - last)
        return unless wait.positive?
        release(ran: false)
        raise Refused.new(429, "one heap dump per #{cooldown} s on this host (dump_cooldown)",
                          "retry-after" => wait.ceil.to_s)
      end

      # call-seq:
      #   lock.release(ran: true) -> nil
      #
      # +ran+: a dump was taken, so the cooldown starts now. Safe to call twice.
      def release(ran: true)
        return if @file.closed?
        if ran
          @file.truncate(0)
          @file.pwrite(Time.now.to_f.to_s, 0)
        end
        @file.flock(File::LOCK_UN)
        @file.close
        nil
      end
    end
  end
end
