# frozen_string_literal: true

require "tmpdir"
require_relative "cluster/identity"
require_relative "cluster/liveness"
require_relative "cluster/directory"
require_relative "cluster/report"
require_relative "cluster/publisher"
require_relative "cluster/view"

module Memwatch
  # One view over a forking server's processes (Puma's master and workers). Each process
  # publishes its newest state to a private shared directory; whichever process serves
  # a request reads them all. The Puma plugin drives this (lib/puma/plugin/memwatch.rb):
  #
  #   Memwatch::Cluster.configure                 # in the master, before forking
  #   Memwatch::Cluster.join                      # in each process, after Memwatch.start
  #   Memwatch::Cluster.view.document             # anywhere: every live process
  #
  # Pure Ruby; the state needs Memwatch's native sampler, the directory code does not.
  module Cluster
    ENV_DIR = "MEMWATCH_CLUSTER_DIR"
    PUBLISH_EVERY = 2.0 # seconds; a publish costs tens of microseconds

    @directory = nil
    @publisher = nil
    @local = nil
    @owner_pid = nil
    @periodic_installed = false
    @chosen = false
    @warned = nil

    class << self
      attr_reader :publisher

      # call-seq:
      #   Cluster.configure(dir: nil) -> Directory   (raises Memwatch::Error when unsafe)
      #
      # Chooses the shared directory: +dir+, else $MEMWATCH_CLUSTER_DIR, else a private
      # one under Dir.tmpdir named after this (the master's) pid. Call it before forking:
      # the children inherit it.
      def configure(dir: nil)
        dir ||= ENV[ENV_DIR] unless ENV[ENV_DIR].to_s.empty?
        @chosen = !dir.nil?
        @directory = dir ? Directory.new(dir.to_s) : Directory.new(default_path, private_parent: true)
        @owner_pid = Process.pid
        prune_dead_clusters unless dir
        @directory
      end

      # call-seq:
      #   Cluster.directory -> Directory or nil
      def directory
        return @directory if @directory

        dir = ENV[ENV_DIR].to_s # a process that only reads a cluster another one runs
        @directory = Directory.new(dir) if !dir.empty? && File.directory?(dir)
      rescue Error
        nil
      end

      # call-seq:
      #   Cluster.join(identity = Identity.current, reference_delay: 0.0) -> Hash
      #
      # Makes this process publish: now (from a fresh sample) and on every memwatch
      # periodic tick. Returns the first published document.
      def join(identity = Identity.current, reference_delay: 0.0)
        @publisher = Publisher.new(directory, identity, reference_delay: reference_delay)
        install_periodic
        reporting_failures(@publisher) do
          @publisher.prune_predecessors
          @publisher.publish(fresh_sample)
        end
      end

      # Stops publishing and removes this process's file (a worker shutting down).
      def leave
        pub = @publisher
        @publisher = nil
        pub&.withdraw
      end

      # The master at shutdown: removes the states, and the directory unless the user
      # chose it.
      def shutdown
        return false unless @directory && Process.pid == @owner_pid

        pub = @publisher
        @publisher = nil
        pub&.withdraw # no publish writes the file back after this
        @directory.destroy(keep_dir: @chosen)
      rescue StandardError => e # runs in Puma's shutdown (a signal trap): never raise there
        warn "memwatch cluster: could not remove #{@directory&.path}: #{e.class}: #{e.message}"
        false
      end

      # call-seq:
      #   Cluster.own_state -> Hash (this process, live)
      #
      # Without join (no plugin: a plain Rack app), a private publisher that writes
      # nothing still keeps the post-boot reference and a verdict.
      def own_state
        return @publisher.document if @publisher&.current?

        @local = Publisher.new(nil, Identity.current) unless @local&.current? && @local.identity == Identity.current
        @local.document
      end

      # call-seq:
      #   Cluster.view -> View
      def view = View.new(directory, own_state)

      # Runs on the memwatch-gc thread every PUBLISH_EVERY seconds: publish, take relayed
      # requests (cluster/routes.rb loads the relay), and say once why publishing fails
      # (a full disk must not spam the log every tick).
      def periodic
        pub = @publisher
        return unless pub&.current? && pub.directory # alone, nobody reads what it would write

        reporting_failures(pub) do
          pub.publish
          RelayServer.poll(pub.directory, pub.identity) if defined?(RelayServer)
        end
      end

      def default_path
        File.join(Dir.tmpdir, "memwatch-#{Process.uid}", "cluster-#{Process.pid}")
      end

      # For tests: forget everything (the periodic hook stays installed, and idles).
      def reset!
        @directory = @publisher = @local = @owner_pid = @warned = @chosen = nil
      end

      private

      def reporting_failures(pub)
        result = yield
        @warned = nil
        result
      rescue StandardError => e
        # Said once per kind of failure: the message names a per-thread temporary file,
        # so two threads failing the same way would otherwise both be reported.
        key = [pub.directory&.path, e.class]
        warn "memwatch cluster: cannot publish to #{pub.directory&.path}: #{e.message}" unless key == @warned
        @warned = key
        nil
      end

      def install_periodic
        return if @periodic_installed

        Memwatch.on_periodic(every: PUBLISH_EVERY) { |_config| Cluster.periodic }
        @periodic_installed = true
      end

      def fresh_sample
        Memwatch.running? ? Memwatch.sample : nil
      rescue StandardError
        nil
      end

      # Directories of masters that died without cleaning up (SIGKILL, OOM).
      def prune_dead_clusters
        parent = File.dirname(@directory.path)
        Dir.children(parent).each do |name|
          pid = name[/\Acluster-(\d+)\z/, 1]&.to_i
          next if pid.nil? || pid == Process.pid || Liveness.alive?(pid)

          Directory.new(File.join(parent, name)).destroy
        rescue Error, SystemCallError
          next
        end
      rescue SystemCallError
        nil
      end
    end
  end
end
