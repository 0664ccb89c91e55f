# frozen_string_literal: true

require_relative "../memwatch"
require_relative "app"            # the endpoint (loaded now: workers fork with it)
require_relative "cluster/routes" # (until app.rb requires these two)
require_relative "metrics/routes"
require_relative "puma_support/settings"
require_relative "puma_support/hooks"

module Memwatch
  # What `plugin :memwatch` does in each Puma process (lib/puma/plugin/memwatch.rb is a
  # thin wrapper around this). Single mode: the one process samples as "single". Cluster
  # mode: the master samples as "master" and owns the shared directory; each worker
  # starts its own sampler as "worker-<index>" (its own log) when it boots, and
  # publishes its state so any worker's endpoint shows the whole cluster.
  #
  # Puma owns the signals: nothing here traps one.
  module PumaSupport
    @settings = nil
    @log = nil

    class << self
      attr_reader :settings

      # call-seq:
      #   PumaSupport.start(launcher) -> nil
      #
      # The plugin's start hook: runs once, in the master (cluster) or the server
      # process (single), after the config is final and before any worker forks.
      #
      # A bad option value (say MEMWATCH_INTERVAL=abc in production) is logged and leaves
      # memwatch off: Puma still boots. (Unknown option names already failed at config load.)
      def start(launcher)
        @log = log_to(launcher)
        @settings = Settings.new(launcher.options[:memwatch] || {}, preload: launcher.options[:preload_app])
        @settings.make_log_dir
        if launcher.options[:workers].to_i.positive?
          Hooks.install_worker_hooks(launcher)
          start_master
          Hooks.after_stopped(launcher.events) { Cluster.shutdown }
        else
          start_process("single")
        end
        nil
      rescue ArgumentError, SystemCallError => e
        log("memwatch: not started: #{e.message}")
        nil
      end

      # call-seq:
      #   PumaSupport.boot_worker(index) -> true | false
      #
      # In a worker, as it boots (before_worker_boot / on_worker_boot). Idempotent.
      def boot_worker(index)
        label = "worker-#{Integer(index)}"
        if Memwatch.running?
          return true if Memwatch.config[:label] == label

          Memwatch.stop # restarted by the fork hook under the parent's label (fork: true)
        end
        start_process(label)
      end

      # In a worker that shuts down cleanly: its state leaves the cluster view at once.
      def stop_worker(_index = nil)
        Cluster.leave
      rescue StandardError => e
        log("memwatch: leaving the cluster view failed: #{e.message}")
      end

      def log(message) = (@log || ->(m) { warn(m) }).call(message)

      private

      def start_master
        Cluster.configure(dir: @settings.cluster_dir)
        start_process("master") if @settings.master
      rescue Error => e
        log("#{e.message}; the cluster view shows each process alone")
        start_process("master") if @settings.master
      end

      # Starts sampling under +label+ and joins the cluster view. A failure is reported
      # and leaves the process serving: memwatch must never stop the app from booting.
      def start_process(label)
        @settings ||= Settings.new({}, preload: true)
        Memwatch.start(**@settings.start_options(label)) unless Memwatch.running?
        Cluster.join(Cluster::Identity.for(label), reference_delay: @settings.reference_delay)
        log("memwatch: sampling #{label} (pid #{Process.pid})#{" -> #{Memwatch.log_path}" if Memwatch.log_path}")
        true
      rescue StandardError => e
        log("memwatch: could not start sampling in #{label} (pid #{Process.pid}): #{e.class}: #{e.message}")
        false
      end

      # Puma ≥ 6 has a log_writer; older Pumas log through their events object.
      def log_to(launcher)
        writer = launcher.respond_to?(:log_writer) ? launcher.log_writer : launcher.events
        writer.respond_to?(:log) ? ->(m) { writer.log(m) } : ->(m) { warn(m) }
      end
    end
  end
end
