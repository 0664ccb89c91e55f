# frozen_string_literal: true

module Memwatch
  # Options for Memwatch.start: defaults, MEMWATCH_* environment variables and
  # validation with messages that say what is accepted. Pure Ruby; the C side
  # re-checks ranges but never has to explain them.
  class Config
    # name => [default, kind, range or pattern, description]
    OPTIONS = {
      interval: [1.0, :float, 0.01..3600, "seconds between samples"],
      log: [nil, :log, nil, "log directory, file path, IO, or nil for no log"],
      log_max_bytes: [64 * 1024 * 1024, :integer, 0..(1 << 40), "rotate the log past this size (0: never)"],
      log_keep: [3, :integer, 0..100, "rotated log files kept (x.tsv.1 ... x.tsv.N)"],
      ring_size: [1800, :integer, 10..1_000_000, "full-resolution samples kept in memory"],
      long_ring_size: [2880, :integer, 10..1_000_000, "downsampled samples kept in memory"],
      long_interval: [60.0, :float, 0.01..86_400, "seconds between downsampled samples"],
      pss_every: [nil, :ticks, 1..1_000_000, "read PSS/USS (smaps_rollup) every N ticks (default: every ~10 s)"],
      meminfo_every: [nil, :ticks, 1..1_000_000, "read host /proc/meminfo every N ticks (default: every ~10 s)"],
      gc_every: [nil, :ticks, 1..1_000_000, "read the GC.stat counters every N ticks (default: every tick, at most ~2 times a second)"],
      verdict_interval: [15.0, :float, 0.01..86_400, "seconds between classifier runs"],
      fork: [true, :boolean, nil, "restart sampling (with its own log) in forked children"],
      label: [nil, :label, /\A[A-Za-z0-9_.-]{1,64}\z/, "a name for this process in log names and metadata"],
      heap_walk: [true, :boolean, nil, "measure Ruby-owned malloc now and then in a forked child"],
      auto_purge: [true, :boolean, nil, "run the retention test (allocator purge) when the evidence asks, at most every 30 min"],
      classifier: [{}.freeze, :hash, nil, "options for Memwatch::Classifier (windows, thresholds)"],
    }.freeze

    attr_reader :values

    # call-seq: Config.new(env: ENV, **options) -> config
    #
    # Keyword options win over MEMWATCH_<NAME> environment variables, which win
    # over the defaults. Raises ArgumentError naming the option and what it takes.
    def initialize(env: ENV, **options)
      unknown = options.keys - OPTIONS.keys
      unless unknown.empty?
        raise ArgumentError, "memwatch: unknown option#{"s" if unknown.size > 1} " \
                             "#{unknown.map(&:inspect).join(", ")} (known: #{OPTIONS.keys.join(", ")})"
      end
      @values = OPTIONS.to_h do |name, (default, kind, rule, _)|
        value = if options.key?(name) then check(name, options[name], kind, rule, name.inspect)
                elsif (raw = env["MEMWATCH_#{name.upcase}"]) then from_env(name, raw, kind, rule)
                else default
                end
        [name, value]
      end.freeze
    end

    def [](name) = @values.fetch(name)
    def to_h = @values.dup

    # Tick counts the sampler thread works with.
    def long_every = [(self[:long_interval] / self[:interval]).round, 1].max
    # Counted in memwatch-gc wake-ups, one per gc_ticks ticks.
    def periodic_every = [(self[:verdict_interval] / (self[:interval] * gc_ticks)).round, 1].max
    # smaps_rollup costs ~0.5 ms per 40 MB mapped: by default read it every
    # ~10 s whatever the interval, so a 0.1 s interval does not pay it 10x.
    def pss_ticks = self[:pss_every] || [(10.0 / self[:interval]).round, 1].max
    def meminfo_ticks = self[:meminfo_every] || [(10.0 / self[:interval]).round, 1].max
    # Each GC counter read wakes the memwatch-gc Ruby thread and waits for it (two
    # context switches, a third of a tick's CPU): at short intervals, every ~0.5 s;
    # rows in between carry the latest counters and say how old (gc_age_seconds).
    def gc_ticks = self[:gc_every] || [(0.5 / self[:interval]).round, 1].max
    # /proc/self/status (swap, threads, shmem) every ~1 s; statm (RSS, anon) every tick.
    def status_ticks = [(1.0 / self[:interval]).round, 1].max

    # The options as plain JSON-friendly data (an IO log is shown by its class).
    def to_json_data
      @values.transform_values { |v| v.is_a?(IO) ? v.inspect : v }
    end

    private

    def from_env(name, raw, kind, rule)
      value = case kind
              when :boolean then parse_boolean(raw)
              when :float then Float(raw, exception: false)
              when :integer, :ticks then Integer(raw, exception: false)
              when :hash then parse_pairs(raw)
              else raw.empty? ? nil : raw
              end
      value = raw if value.nil? && %i[float integer ticks].include?(kind) # unparseable: report it as given
      check(name, value, kind, rule, "MEMWATCH_#{name.upcase}=#{raw.inspect}")
    end

    # MEMWATCH_CLASSIFIER="suspect_window=60,grace=600": numbers only.
    def parse_pairs(raw)
      raw.split(",").map(&:strip).reject(&:empty?).to_h do |pair|
        key, value = pair.split("=", 2)
        number = value && (Integer(value, exception: false) || Float(value, exception: false))
        return raw unless key&.match?(/\A[a-z_]+\z/) && number

        [key.to_sym, number]
      end
    end

    def parse_boolean(raw)
      case raw.strip.downcase
      when "1", "true", "yes", "on" then true
      when "0", "false", "no", "off" then false
      else raw
      end
    end

    def check(name, value, kind, rule, source)
      ok = case kind
           when :float then value.is_a?(Numeric) && rule.cover?(value.to_f)
           when :integer then value.is_a?(Integer) && rule.cover?(value)
           when :ticks then value.nil? || (value.is_a?(Integer) && rule.cover?(value))
           when :boolean then value == true || value == false
           when :label then value.nil? || (value.is_a?(String) && rule.match?(value))
           when :log then value.nil? || value.is_a?(String) || value.is_a?(IO) || value.respond_to?(:to_path)
           when :hash then value.is_a?(Hash) && value.keys.all?(Symbol)
           end
      raise ArgumentError, "memwatch: #{source} is invalid: #{name} must be #{expectation(kind, rule)}" \
                           " (got #{value.inspect})" unless ok
      kind == :float ? value.to_f : (value.respond_to?(:to_path) ? value.to_path : value)
    end

    def expectation(kind, rule)
      case kind
      when :float then "a number of seconds from #{rule.min} to #{rule.max}"
      when :integer then "an integer from #{rule.min} to #{rule.max}"
      when :ticks then "nil or an integer from #{rule.min} to #{rule.max}"
      when :boolean then "true or false (env: 1/0, true/false, yes/no, on/off)"
      when :label then "1-64 characters of A-Z a-z 0-9 _ . -"
      when :log then "a directory, a file path, an IO, or nil"
      when :hash then "a Hash with Symbol keys (env: key=number,key=number)"
      end
    end
  end
end
