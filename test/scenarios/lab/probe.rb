# frozen_string_literal: true

require "json"
require "objspace"

module LeakLab
  # The lab's own measurements, independent of memwatch: a scenario's signature
  # must be checked with a second instrument, or a memwatch bug and a lab bug
  # could agree with each other. One JSON line per tick, per process.
  class Probe
    GC_KEYS = %i[count major_gc_count heap_live_slots heap_allocated_pages old_objects
                 malloc_increase_bytes oldmalloc_increase_bytes total_allocated_objects].freeze
    STATUS_KEYS = { "VmRSS" => :rss, "RssAnon" => :rss_anon, "Threads" => :threads }.freeze
    MEMINFO_KEYS = { "Slab" => :host_slab, "SUnreclaim" => :host_sunreclaim,
                     "MemAvailable" => :host_available }.freeze
    SLOT = GC::INTERNAL_CONSTANTS.fetch(:BASE_SLOT_SIZE) { GC::INTERNAL_CONSTANTS[:RVALUE_SIZE] }

    # call-seq: Probe.sample(walk: false) -> Hash
    #
    # One measurement now. +walk+ adds Ruby-owned malloc bytes (memsize_of_all minus
    # slots), a heap walk that holds the GVL for ~15 ms per 1M objects.
    def self.sample(walk: false)
      s = { t: Time.now.to_f, pid: Process.pid }
      stat = GC.stat
      GC_KEYS.each { |k| s[k] = stat[k] }
      s.merge!(proc_fields("/proc/self/status", STATUS_KEYS))
      s.merge!(proc_fields("/proc/meminfo", MEMINFO_KEYS))
      s[:ruby_threads] = Thread.list.size
      s.merge!(allocator)
      s[:native_leaked] = LeakLab.native_leaked.first if LeakLab.respond_to?(:native_leaked)
      s[:ruby_malloc] = ruby_malloc if walk
      s
    end

    # /proc "Key:   123 kB" lines -> bytes (Threads stays a count).
    def self.proc_fields(path, keys)
      out = {}
      File.foreach(path) do |line|
        name, rest = line.split(":", 2)
        key = keys[name] or next
        n = rest.to_i
        out[key] = rest.include?("kB") ? n * 1024 : n
      end
      out
    end

    def self.allocator
      return {} unless LeakLab.respond_to?(:jemalloc_stats)

      LeakLab.jemalloc_stats || LeakLab.glibc_stats || {}
    end

    # Bytes owned by Ruby objects outside their slots. memsize_of_all skips the
    # internal types, so subtract slots only for the objects it counted; both
    # walks are in C (~18 ms per 1M objects).
    def self.ruby_malloc
      counts = ObjectSpace.count_objects
      skipped = %i[FREE T_IMEMO T_NODE T_ICLASS T_ZOMBIE T_MOVED].sum { |k| counts[k].to_i }
      ObjectSpace.memsize_of_all - (counts[:TOTAL] - skipped) * SLOT
    end

    # call-seq: Probe.configure(dir, interval: 1.0) -> nil
    #
    # Remembers where to write; Probe.ensure_running (called by every request)
    # starts the writer thread in whichever process serves, so it works with
    # and without preload_app! (threads do not survive fork).
    def self.configure(dir, interval: 1.0)
      @dir = dir
      @interval = interval
      @pid = nil
      nil
    end

    def self.ensure_running
      return if @dir.nil? || @pid == Process.pid

      @pid = Process.pid
      new(@dir, interval: @interval).start
    end

    # call-seq: Probe.new(dir, interval: 1.0, walk_every: 10).start -> Probe
    #
    # Appends a sample to DIR/probe-PID.jsonl every +interval+ seconds from a
    # plain Ruby thread (the lab accepts the cost memwatch itself avoids).
    def initialize(dir, interval: 1.0, walk_every: 10)
      @path = File.join(dir, "probe-#{Process.pid}.jsonl")
      @interval = interval
      @walk_every = walk_every
    end

    def start
      @thread = Thread.new { run }
      @thread.name = "leaklab-probe"
      @thread.report_on_exception = true
      self
    end

    private

    def run
      File.open(@path, "a") do |f|
        f.sync = true
        n = 0
        loop do
          f.puts(JSON.generate(Probe.sample(walk: (n % @walk_every).zero?)))
          n += 1
          sleep @interval
        end
      end
    end
  end
end
