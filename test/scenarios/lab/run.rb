# frozen_string_literal: true

require "json"
require "rbconfig"
require_relative "../support"
require_relative "catalog"

module LeakLab
  # One scenario run: boot Puma (allocator x workers), drive it from a separate
  # process for +duration+ seconds, stop everything, and collect per-process
  # data (the lab's probe series and memwatch's log).
  class Run
    DRIVE = File.join(ROOT, "drive.rb")

    # The data of one serving process (the single-mode server or a worker).
    ProcessData = Struct.new(:pid, :probe_path, :memwatch_log, keyword_init: true) do
      def probe_rows
        File.foreach(probe_path).map { |l| JSON.parse(l, symbolize_names: true) }
      end
    end

    Result = Struct.new(:scenario, :allocator, :workers, :duration, :dir, :drive, :procs,
                        :puma_log, keyword_init: true) do
      def label
        "#{scenario.name}/#{allocator}/#{workers.zero? ? 'single' : "workers#{workers}"}"
      end
    end

    # call-seq: Run.new(scenario, dir:, allocator: "glibc", workers: 0, duration: 120,
    #                   memwatch: true, interval: 0.5, path: nil)
    def initialize(scenario, dir:, allocator: "glibc", workers: 0, duration: 120,
                   memwatch: true, interval: 0.5, path: nil)
      raise ArgumentError, "allocator must be glibc or jemalloc" unless %w[glibc jemalloc].include?(allocator)

      @scenario, @dir, @allocator, @workers = scenario, dir, allocator, workers
      @duration, @memwatch, @interval = duration, memwatch, interval
      @path = path || scenario.path
    end

    # call-seq: call -> Result
    def call
      FileUtils.mkdir_p(@dir)
      server = Server.new(@dir, env: env, workers: @workers).start
      drive(server)
      server.stop
      collect
    ensure
      server&.stop
    end

    # call-seq: collect -> Result
    #
    # The data a finished run left in its directory (also for judging saved
    # runs again after the classifier changed: LAB_REJUDGE).
    def collect
      raise "no finished run in #{@dir}" unless File.exist?(File.join(@dir, "drive.json"))

      procs = Dir[File.join(@dir, "probe-*.jsonl")].sort.map do |probe|
        pid = probe[/probe-(\d+)\.jsonl\z/, 1].to_i
        ProcessData.new(pid: pid, probe_path: probe, memwatch_log: Dir[File.join(@dir, "memwatch*-#{pid}.tsv")].first)
      end
      Result.new(scenario: @scenario, allocator: @allocator, workers: @workers, duration: @duration,
                 dir: @dir, drive: JSON.parse(File.read(File.join(@dir, "drive.json")), symbolize_names: true),
                 procs: procs, puma_log: File.join(@dir, "puma.log"))
    end

    private

    def env
      { "LEAKLAB_EXT_DIR" => LeakLab.build_ext, "LAB_PROBE_DIR" => @dir,
        "LAB_MEMWATCH" => @memwatch ? "1" : "0", "LAB_MEMWATCH_LOG" => @dir,
        "LAB_MEMWATCH_INTERVAL" => @interval.to_s,
        # the suite itself may run under a preloaded jemalloc: choose explicitly
        "LD_PRELOAD" => @allocator == "jemalloc" ? JEMALLOC : nil,
        "MALLOC_CONF" => nil, "RACK_ENV" => "production" }
    end

    def drive(server)
      rps = @scenario.rps * [@workers, 1].max
      pid = Process.spawn(RbConfig.ruby, DRIVE, "--url", server.url(@path), "--rps", rps.to_s,
                          "--duration", @duration.to_s, out: File.join(@dir, "drive.json"),
                          err: File.join(@dir, "drive.err"))
      raise "load driver overran its deadline" unless LeakLab.wait_pid(pid, @duration + 60)

      pid = nil
    ensure
      if pid # overran, or we were interrupted: never leave the client behind
        begin
          Process.kill("KILL", pid)
        rescue Errno::ESRCH
          nil
        end
        LeakLab.wait_pid(pid, 5)
      end
    end
  end
end
