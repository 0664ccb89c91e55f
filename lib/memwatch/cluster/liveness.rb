# frozen_string_literal: true

module Memwatch
  module Cluster
    # Is a published process still there? kill(pid, 0) says whether the pid exists; a
    # worker killed with SIGKILL stays a zombie until Puma's master reaps it, and a
    # zombie serves nothing, so /proc/<pid>/stat's state is checked too.
    module Liveness
      module_function

      # call-seq:
      #   Liveness.alive?(pid) -> true | false
      def alive?(pid)
        return true if pid == Process.pid

        Process.kill(0, pid)
        !zombie?(pid)
      rescue Errno::ESRCH
        false
      rescue Errno::EPERM
        true # someone else's process reuses the pid: alive, but see the staleness check
      end

      def zombie?(pid)
        stat = File.read("/proc/#{pid}/stat")
        # "pid (comm) S ...": comm may hold spaces and parentheses, so split at the last ")".
        stat[(stat.rindex(")") + 2)] == "Z"
      rescue SystemCallError, NoMethodError
        false
      end
    end
  end
end
