# frozen_string_literal: true

require "socket"
require "memwatch/version"
require "memwatch/host_recorder/procfs"
require "memwatch/host_recorder/log_writer"

module Memwatch
  # Samples every process on the host and the host's memory into one memwatch log
  # (`memwatch record --all`). Pure Ruby, reading /proc; it does not load the extension.
  #
  # Rows: `host` rows carry /proc/meminfo, the cgroup and the sum of every process's RSS;
  # `process` rows carry one process (pid, ppid, start time, command, RSS, swap, PSS when
  # readable); an `exit` row marks a recorded process that is gone. A process row is written when its RSS moved by more than min(1 MiB, 1%)
  # since its last row, and at least every +keyframe+ ticks, so idle processes cost little.
  class HostRecorder
    COLUMNS = %i[type tick pid ppid start_time command rss_bytes pss_bytes swap_bytes
                 host_mem_total_bytes host_mem_available_bytes host_cached_bytes host_shmem_bytes
                 host_slab_bytes host_sreclaimable_bytes host_sunreclaim_bytes host_kernel_stack_bytes
                 host_page_tables_bytes host_swap_used_bytes cgroup_usage_bytes cgroup_limit_bytes
                 procs_count procs_rss_bytes].freeze
    FILE_NAME = "memwatch-host.tsv"
    DEADBAND = 1024 * 1024

    attr_reader :path, :ticks

    # call-seq:
    #   HostRecorder.new(dir:, interval: 5.0, pss_every: 12, keyframe: 60, max_bytes:, keep:)
    def initialize(dir:, interval: 5.0, pss_every: 12, keyframe: 60, max_bytes: 64 * 1024 * 1024, keep: 20)
      @interval = interval
      @pss_every = pss_every
      @keyframe = keyframe
      @path = File.join(dir, FILE_NAME)
      @writer = LogWriter.new(@path, columns: COLUMNS, metadata: metadata, max_bytes: max_bytes, keep: keep)
      @last = {}      # [pid, start_time] => [rss written, tick index]
      @commands = {}  # [pid, start_time] => command line
      @no_pss = {}    # processes whose smaps_rollup we may not read
      @ticks = 0
      @stop = false
    end

    # call-seq:
    #   recorder.run(duration: nil) -> Integer (ticks recorded)
    #
    # Samples every +interval+ seconds until #stop, or for +duration+ seconds.
    def run(duration: nil)
      next_at = now
      deadline = duration && next_at + duration
      until @stop || (deadline && now >= deadline)
        tick
        next_at += @interval
        next_at = now if next_at < now # a slow tick (a huge host): skip ahead, never burst
        pause(next_at, deadline)
      end
      @ticks
    ensure
      @writer.close
    end

    # call-seq:
    #   recorder.stop -> true
    #
    # Safe from a signal handler: the loop ends after the current tick.
    def stop
      @stop = true
    end

    # call-seq:
    #   recorder.tick -> nil
    #
    # One sample of the host and every process.
    def tick
      t = Time.now.to_f
      procs = Procfs.pids.filter_map { |pid| Procfs.process(pid) }
      @writer.write(host_row(t, procs))
      procs.each { |pr| write_process(t, pr) }
      forget_gone(t, procs)
      @ticks += 1
      nil
    end

    private

    def metadata
      { pid: Process.pid, kind: "host", label: "host", hostname: Socket.gethostname, memwatch: VERSION,
        schema: 1, interval: @interval, started: Time.now.utc.strftime("%FT%TZ") }
    end

    def host_row(t, procs)
      { type: "host", tick: t, procs_count: procs.size, procs_rss_bytes: procs.sum(&:rss_bytes) }
        .merge(Procfs.meminfo).merge(Procfs.cgroup_memory)
    end

    def write_process(t, pr)
      key = [pr.pid, pr.start_time]
      last_rss, last_tick = @last[key]
      return false if last_rss && !moved?(last_rss, pr.rss_bytes) && @ticks - last_tick < @keyframe && !pss_tick?

      @commands[key] = nil if last_tick.nil? || @ticks - last_tick >= @keyframe # servers retitle themselves ($0)
      @last[key] = [pr.rss_bytes, @ticks]
      @commands[key] ||= Procfs.command(pr.pid)
      @writer.write(type: "process", tick: t, pid: pr.pid, ppid: pr.ppid, start_time: pr.start_time,
                    command: @commands[key], rss_bytes: pr.rss_bytes, swap_bytes: pr.swap_bytes, pss_bytes: pss(key, pr))
      true
    end

    def moved?(before, now)
      (now - before).abs >= [DEADBAND, before / 100].min
    end

    def pss_tick?
      (@ticks % @pss_every).zero?
    end

    def pss(key, pr)
      return nil unless pss_tick? && !@no_pss[key]

      Procfs.pss(pr.pid).tap { |v| @no_pss[key] = true if v.nil? }
    end

    # An `exit` row marks a process that was recorded and is gone.
    def forget_gone(t, procs)
      alive = procs.to_h { |pr| [[pr.pid, pr.start_time], true] }
      (@last.keys - alive.keys).each do |pid, start|
        @writer.write(type: "exit", tick: t, pid: pid, start_time: start, command: @commands[[pid, start]])
      end
      [@last, @commands, @no_pss].each { |h| h.select! { |k, _| alive[k] } }
    end

    def pause(target, deadline)
      target = [target, deadline].min if deadline
      while !@stop && (left = target - now) > 0
        sleep([left, 0.2].min)
      end
    end

    def now
      Process.clock_gettime(Process::CLOCK_MONOTONIC)
    end
  end
end
