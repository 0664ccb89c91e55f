# frozen_string_literal: true

require_relative "memwatch/version"
require_relative "memwatch/config"
require_relative "memwatch/log_target"

begin
  require "memwatch/memwatch"
rescue LoadError => e
  raise LoadError, "memwatch: the native extension is missing (#{e.message}); memwatch supports " \
                   "CRuby on Linux — reinstall the gem or run `rake compile` in a checkout"
end

require_relative "memwatch/runner"
require_relative "memwatch/verdict_loop"
require_relative "memwatch/fork_hook"
require_relative "memwatch/heap/native_profile"

# memwatch tells why a long-running Ruby process keeps growing. See README.md.
module Memwatch
  class Error < StandardError; end

  autoload :App, "memwatch/app"
  autoload :Middleware, "memwatch/middleware"
  autoload :Classifier, "memwatch/classifier"
  autoload :Verdict, "memwatch/verdict"
  autoload :LogReader, "memwatch/log_reader"
  autoload :Heap, "memwatch/heap"
  autoload :Metrics, "memwatch/metrics"
  autoload :Cluster, "memwatch/cluster"
  autoload :PumaSupport, "memwatch/puma_support"
  autoload :Attribution, "memwatch/attribution"

  @sampler = nil
  @config = nil
  @log_path = nil
  @purges = []

  class << self
    attr_reader :log_path

    # call-seq: Memwatch.start(interval: 1.0, log: nil, **options) -> true | false
    #
    # Starts the native sampler (and the log, when log: is given). Returns false,
    # changing nothing, when it is already running. Options: see Config::OPTIONS
    # and README.md; each can also come from a MEMWATCH_<NAME> variable.
    def start(**options)
      return false if running?

      config = Config.new(**options)
      launch(config, child: false)
      true
    end

    # call-seq: Memwatch.stop -> true | false
    def stop
      return false unless running?

      Runner.stop(@sampler)
      VerdictLoop.stop
      true
    end

    # call-seq: Memwatch.running? -> true | false
    def running? = !@sampler.nil? && @sampler._running?

    # call-seq: Memwatch.config -> Hash  (the options in force, or of the last run)
    def config = @config&.to_h

    # call-seq: Memwatch.sample -> Hash
    #
    # One sample taken now on the calling thread (not stored in the rings).
    def sample = sampler._sample_now

    # call-seq: Memwatch.samples(since: nil, limit: nil, resolution: :recent) -> Array of Hash
    #
    # Samples from memory, oldest first. resolution: :recent (every tick),
    # :long (downsampled) or :all (the long ring up to where the recent one
    # starts, then the recent ring).
    def samples(since: nil, limit: nil, resolution: :recent)
      since = Float(since) unless since.nil?
      raise ArgumentError, "memwatch: limit must be a non-negative Integer" unless limit.nil? || (limit.is_a?(Integer) && limit >= 0)
      return [] unless @sampler

      case resolution
      when :recent then @sampler._samples(0, since, limit)
      when :long then @sampler._samples(1, since, limit)
      when :all then all_samples(since, limit)
      else raise ArgumentError, "memwatch: resolution must be :recent, :long or :all (got #{resolution.inspect})"
      end
    end

    # call-seq: Memwatch.columns -> Array of Symbols (the log header, in order)
    def columns = Native._columns

    # call-seq: Memwatch.verdict -> Memwatch::Verdict
    #
    # The latest verdict of the periodic classifier (every verdict_interval);
    # before its first run, one computed now over the samples in memory.
    def verdict = Runner.verdict || VerdictLoop.evaluate_now(@config)

    # call-seq: Memwatch.allocator -> "jemalloc" | "glibc" | "unknown"
    def allocator = allocator_info[:name]

    # call-seq: Memwatch.allocator_info -> Hash
    def allocator_info = (@allocator_info ||= Native._allocator_info.freeze)

    # call-seq: Memwatch.snapshot -> String (JSON)
    #
    # Configuration, allocator, memwatch's own cost, the verdict, the latest
    # sample and the history, encoded in C with json-c.
    def snapshot
      Native._snapshot(sampler, { memwatch: about, config: @config&.to_json_data,
                                  allocator: allocator_info, verdict: Runner.verdict_data,
                                  attribution: (Attribution.report if attribution_active?) })
    end

    # call-seq: Memwatch.purge -> Hash
    #
    # The retention test: asks the allocator to hand free memory back to the
    # OS (jemalloc arena.<ALL>.purge, glibc malloc_trim(0)) and reports how
    # much RSS fell. A leak does not fall; retention does.
    def purge
      before = sample
      started = Process.clock_gettime(Process::CLOCK_MONOTONIC)
      Native._purge
      seconds = Process.clock_gettime(Process::CLOCK_MONOTONIC) - started
      after = sample
      result = { allocator: allocator, tick: after[:tick], rss_before_bytes: before[:rss_bytes],
                 rss_after_bytes: after[:rss_bytes], released_bytes: before[:rss_bytes] - after[:rss_bytes],
                 seconds: seconds.round(6) }
      @purges << result
      @purges.shift while @purges.size > 20
      result
    end

    # call-seq: Memwatch.purges -> Array of Hash (recent purge results)
    def purges = @purges.dup

    # call-seq: Memwatch.reopen_log -> true
    #
    # For external rotation (logrotate without copytruncate): the next row goes
    # to a fresh file at the same path, which starts with the header again.
    def reopen_log = Native._log_reopen

    # call-seq: Memwatch.stats -> Hash (memwatch's own ticks, errors, CPU and memory)
    def stats = @sampler ? @sampler._stats : {}

    private

    def sampler = (@sampler ||= Native::Sampler.new)

    # Only when the app uses the middleware (never load it just to ask).
    def attribution_active? = !autoload?(:Attribution) && Attribution.active?

    def about
      { version: VERSION, pid: Process.pid, ruby: RUBY_VERSION, running: running?,
        log_path: @log_path, **stats.slice(:bytes, :cpu_seconds, :ticks, :errors, :last_error) }
    end

    def all_samples(since, limit)
      recent = @sampler._samples(0, since, nil)
      older = @sampler._samples(1, since, nil)
      older.reject! { |s| s[:tick] >= recent.first[:tick] } unless recent.empty?
      rows = older + recent
      limit ? rows.last(limit) : rows
    end

    # Opens the log, starts the pthread and the memwatch-gc Ruby thread.
    def launch(config, child:)
      path, io = LogTarget.resolve(config[:log], label: config[:label], child: child)
      VerdictLoop.install(config, child: child) # validates the classifier options before anything starts
      open_log(config, path, io)
      sampler._start(config[:interval], [config[:ring_size], config[:long_ring_size]],
                     [config.long_every, config.pss_ticks, config.meminfo_ticks, config.periodic_every,
                      config.status_ticks, config.gc_ticks],
                     GC::INTERNAL_CONSTANTS[:HEAP_PAGE_SIZE] || 16_384)
      @config = config
      @log_path = path
      Runner.start(sampler, config)
    rescue StandardError
      Native._log_close unless running?
      raise
    end

    def open_log(config, path, io)
      return Native._log_close unless path || io

      io&.flush # C writes to (a dup of) its fd with write(2): keep Ruby's buffered bytes first
      Native._log_open(path, io&.fileno, LogTarget.preamble(config, allocator), config[:log_max_bytes],
                       config[:log_keep])
    rescue SystemCallError => e
      raise Error, "memwatch: cannot open the log #{path || io.inspect}: #{e.message}"
    end

    # Called in a forked child (Process._fork): the sampler thread does not
    # exist here; restart it with a log of the child's own when configured.
    def restart_in_child
      return unless @config && @config[:fork] && @sampler

      @purges = []
      launch(@config, child: true)
    rescue StandardError => e
      warn "memwatch: could not restart sampling in child #{Process.pid}: #{e.message}"
    end
  end
end

Memwatch.start if ENV["MEMWATCH"] == "1" && !Memwatch.running?
