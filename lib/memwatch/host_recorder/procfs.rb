# frozen_string_literal: true

require "etc"

module Memwatch
  class HostRecorder
    # Reads /proc and the cgroup files for the host recorder. Every reader returns nil (or
    # skips the process) when a file vanished or is not readable: processes come and go
    # between listing /proc and reading it, and /proc may hide other users' processes.
    module Procfs
      MEMINFO = {
        "MemTotal" => :host_mem_total_bytes, "MemAvailable" => :host_mem_available_bytes,
        "Cached" => :host_cached_bytes, "Shmem" => :host_shmem_bytes, "Slab" => :host_slab_bytes,
        "SReclaimable" => :host_sreclaimable_bytes, "SUnreclaim" => :host_sunreclaim_bytes,
        "KernelStack" => :host_kernel_stack_bytes, "PageTables" => :host_page_tables_bytes,
        "SwapTotal" => :swap_total, "SwapFree" => :swap_free
      }.freeze
      NOT_LIMITED = 2**60 # cgroup v1 reports "no limit" as a huge page-aligned number

      # One process: identity (pid + start time survives pid reuse) and memory.
      ProcInfo = Struct.new(:pid, :ppid, :start_time, :rss_bytes, :swap_bytes, keyword_init: true)

      module_function

      def clk_tck
        @clk_tck ||= Etc.sysconf(Etc::SC_CLK_TCK) || 100
      end

      def boot_time
        @boot_time ||= File.foreach("/proc/stat").find { |l| l.start_with?("btime ") }&.split&.last.to_i
      end

      # call-seq:
      #   Procfs.meminfo -> Hash of host_* columns (bytes)
      def meminfo(path = "/proc/meminfo")
        values = {}
        File.foreach(path) do |line|
          key, rest = line.split(":", 2)
          col = MEMINFO[key] or next
          values[col] = rest.to_i * 1024
        end
        swap = values.delete(:swap_total).to_i - values.delete(:swap_free).to_i
        values.merge(host_swap_used_bytes: swap)
      rescue SystemCallError
        {}
      end

      # call-seq:
      #   Procfs.pids -> Array of Integer
      def pids
        Dir.children("/proc").filter_map { |n| n.to_i if n.match?(/\A\d+\z/) }
      end

      # call-seq:
      #   Procfs.process(pid) -> ProcInfo or nil
      #
      # nil for kernel threads (no memory of their own) and processes that already exited.
      def process(pid)
        stat = File.read("/proc/#{pid}/stat")
        fields = stat[(stat.rindex(")") + 2)..].split # comm may hold spaces and ')'
        status = File.read("/proc/#{pid}/status")
        rss = status[/^VmRSS:\s+(\d+)/, 1] or return nil # kernel threads have no VmRSS

        ProcInfo.new(pid: pid, ppid: fields[1].to_i, start_time: (boot_time + fields[19].to_f / clk_tck).round(2),
                 rss_bytes: rss.to_i * 1024, swap_bytes: status[/^VmSwap:\s+(\d+)/, 1].to_i * 1024)
      rescue SystemCallError, NoMethodError
        nil
      end

      # call-seq:
      #   Procfs.command(pid) -> String
      #
      # The command line, one line, at most 200 characters; "[comm]" when it is empty.
      def command(pid)
        cmd = File.binread("/proc/#{pid}/cmdline").tr("\0", " ").strip
        cmd = "[#{File.read("/proc/#{pid}/comm").strip}]" if cmd.empty?
        cmd.force_encoding(Encoding::UTF_8).scrub("?").gsub(/[[:cntrl:]]/, " ")[0, 200]
      rescue SystemCallError
        "?"
      end

      # call-seq:
      #   Procfs.pss(pid) -> Integer or nil
      #
      # PSS from smaps_rollup; nil when not permitted (other users' processes without
      # CAP_SYS_PTRACE) or gone. Costs ~13 ms per GB of RSS: call it every Nth tick.
      def pss(pid)
        File.read("/proc/#{pid}/smaps_rollup")[/^Pss:\s+(\d+)/, 1]&.to_i&.*(1024)
      rescue SystemCallError
        nil
      end

      # call-seq:
      #   Procfs.cgroup_memory -> {cgroup_usage_bytes:, cgroup_limit_bytes:}
      #
      # The recorder's own cgroup (the container when run in one): v2 memory.current /
      # memory.max, else v1 memory.usage_in_bytes / memory.limit_in_bytes.
      def cgroup_memory
        dir = cgroup_dir or return {}
        v2 = File.exist?(File.join(dir, "memory.current"))
        usage = read_int(File.join(dir, v2 ? "memory.current" : "memory.usage_in_bytes"))
        limit = read_int(File.join(dir, v2 ? "memory.max" : "memory.limit_in_bytes"))
        { cgroup_usage_bytes: usage, cgroup_limit_bytes: limit && limit < NOT_LIMITED ? limit : nil }
      end

      def cgroup_dir
        @cgroup_dir ||= cgroup_candidates.find { |d| File.exist?(File.join(d, "memory.current")) || File.exist?(File.join(d, "memory.usage_in_bytes")) }
      end

      def cgroup_candidates
        lines = File.readlines("/proc/self/cgroup", chomp: true)
        v2 = lines.find { |l| l.start_with?("0::") }&.split(":", 3)&.last
        v1 = lines.find { |l| l.split(":", 3)[1].to_s.split(",").include?("memory") }&.split(":", 3)&.last
        [v2 && "/sys/fs/cgroup#{v2}", v2 && "/sys/fs/cgroup/unified#{v2}", v1 && "/sys/fs/cgroup/memory#{v1}",
         "/sys/fs/cgroup", "/sys/fs/cgroup/memory"].compact
      rescue SystemCallError
        []
      end

      def read_int(path)
        text = File.read(path).strip
        text == "max" ? nil : Integer(text, 10)
      rescue SystemCallError, ArgumentError
        nil
      end
    end
  end
end
