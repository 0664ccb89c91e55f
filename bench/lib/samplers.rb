# frozen_string_literal: true

# The samplers memwatch is compared with, started lazily on the first request so each
# Puma worker (a fork) runs its own, as a real deployment would.
module BenchSamplers
  @mode = nil
  @pid = nil

  class << self
    def start_later(mode, interval, log_dir)
      @mode, @interval, @log_dir = mode, interval, log_dir
    end

    # One integer compare per request once started.
    def ensure_started
      return if @pid == Process.pid

      @pid = Process.pid
      case @mode
      when "memwatch" then Memwatch.start(interval: @interval, log: @log_dir, fork: false) unless Memwatch.running?
      when "attribution" then Memwatch.start(interval: 1.0, fork: false) unless Memwatch.running?
      when "naive" then naive(@interval, File.join(@log_dir, "naive-#{Process.pid}.log"))
      when "pergc" then PerGcLogger.start(File.join(@log_dir, "pergc-#{Process.pid}.tsv"))
      end
    end

    # What exporters and worker killers do: a Ruby thread that wakes, reads GC.stat
    # and /proc/self/status, and appends a line.
    def naive(interval, path)
      log = File.open(path, "a")
      log.sync = true
      Thread.new do
        loop do
          stat = GC.stat
          rss = File.read("/proc/self/status")[/VmRSS:\s+(\d+)/, 1]
          log.write("#{Time.now.to_f}\t#{stat[:count]}\t#{stat[:heap_live_slots]}\t#{stat[:old_objects]}\t#{rss}\n")
          sleep interval
        end
      end
    end
  end

  # gc_tracer's mode: a row at the start, end of marking and end of sweeping of every
  # GC, through objspace's internal GC event hooks (gc_tracer 1.5.1, installed by the
  # bench into a scratch GEM_HOME). Ruby has no public hook for these events, so there
  # is no pure-Ruby stand-in: without the gem the mode is skipped and the report says so.
  module PerGcLogger
    def self.start(path)
      require "gc_tracer"
      GC::Tracer.start_logging(path)
    end
  end
end
