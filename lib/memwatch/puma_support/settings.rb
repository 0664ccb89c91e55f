# frozen_string_literal: true

require "fileutils"

module Memwatch
  module PumaSupport
    # The plugin's options, from `memwatch key: value, ...` in config/puma.rb, checked when
    # the config is loaded (a typo fails the boot with a message, not silently later).
    # Every Memwatch.start option is accepted (MEMWATCH_* variables work as usual), plus:
    #   cluster_dir:      the shared directory (default: private, under Dir.tmpdir)
    #   reference_delay:  seconds after a process starts before its post-boot reference
    #                     (RSS/PSS/USS) is taken; default 0 with preload_app!, 30 without
    #   master:           sample the master too (default true)
    class Settings
      PLUGIN_KEYS = %i[cluster_dir reference_delay master].freeze
      # The plugin publishes on memwatch's periodic tick: make it frequent enough for a
      # fresh cluster view. (The classifier keeps its own, slower cadence.)

      attr_reader :cluster_dir, :reference_delay, :master

      # call-seq:
      #   Settings.new(options, preload: true, env: ENV) -> settings  (raises ArgumentError)
      def initialize(options, preload: true, env: ENV)
        Settings.check_keys(options)
        @env = env
        @start = options.slice(*Config::OPTIONS.keys).freeze
        Config.new(env: env, **@start) # validates now; raises ArgumentError naming the option
        @cluster_dir = options[:cluster_dir]&.to_s
        @reference_delay = delay(options, preload)
        @master = options.fetch(:master, true)
        raise ArgumentError, "memwatch plugin: master: must be true or false" unless [true, false].include?(@master)
      end

      def self.check_keys(options)
        raise ArgumentError, "memwatch plugin: options must be a Hash" unless options.is_a?(Hash)

        unknown = options.keys - Config::OPTIONS.keys - PLUGIN_KEYS
        return if unknown.empty?

        raise ArgumentError, "memwatch plugin: unknown option#{"s" if unknown.size > 1} " \
                             "#{unknown.map(&:inspect).join(", ")} (known: #{(Config::OPTIONS.keys + PLUGIN_KEYS).join(", ")})"
      end

      # call-seq:
      #   settings.start_options(label) -> Hash for Memwatch.start
      #
      # The plugin starts every Puma process itself, so it turns the fork hook off
      # (workers would otherwise restart under the master's label) unless +fork+ was set.
      def start_options(label)
        opts = @start.merge(label: label)
        opts[:fork] = false unless given?(:fork)
        log = @start.key?(:log) ? @start[:log] : @env["MEMWATCH_LOG"]
        opts[:log] = per_process(File.expand_path(log), label) if file_path?(log)
        opts[:log] = "#{File.expand_path(log)}/" if log.is_a?(String) && log.end_with?("/") # absolute in the cluster view
        opts
      end

      # A log directory named with a trailing "/" is created when missing (once, before
      # any worker forks).
      def make_log_dir
        log = @start.key?(:log) ? @start[:log] : @env["MEMWATCH_LOG"]
        FileUtils.mkdir_p(log) if log.is_a?(String) && log.end_with?("/") && !File.directory?(log)
      end

      private

      def given?(key) = @start.key?(key) || !@env["MEMWATCH_#{key.upcase}"].to_s.empty?

      def delay(options, preload)
        raw = options.fetch(:reference_delay) { @env["MEMWATCH_REFERENCE_DELAY"] }
        return preload == false ? 30.0 : 0.0 if raw.nil? || raw == ""

        value = Float(raw, exception: false)
        return value if value && value >= 0 && value <= 86_400

        raise ArgumentError, "memwatch plugin: reference_delay must be seconds from 0 to 86400 (got #{raw.inspect})"
      end

      # A log *file* shared by every process would interleave them: each Puma process
      # gets <name>.<label>.<pid><ext> instead. Directories already give per-process names.
      def file_path?(log)
        log.is_a?(String) && !log.empty? && !log.end_with?("/") && !File.directory?(log)
      end

      def per_process(path, label)
        ext = File.extname(path)
        "#{path.delete_suffix(ext)}.#{label}.#{Process.pid}#{ext}"
      end
    end
  end
end
