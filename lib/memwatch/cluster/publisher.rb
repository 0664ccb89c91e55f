# frozen_string_literal: true

require_relative "report"
require_relative "liveness"

module Memwatch
  module Cluster
    # Publishes one process's state to the shared directory: once at boot (from a fresh
    # sample, so the cluster view shows a new worker at once), then on every memwatch
    # periodic tick (Memwatch.on_periodic, the memwatch-gc thread). A publish copies the
    # newest ring sample and writes ~3 KiB: tens of microseconds.
    class Publisher
      FALLBACK_VERDICT_EVERY = 10.0 # seconds; only while nobody else classifies

      attr_reader :identity, :pid, :reference, :directory

      # call-seq:
      #   Publisher.new(directory, identity, reference_delay: 0.0) -> publisher
      #
      # +reference_delay+: seconds after this publisher starts before the post-boot
      # reference (RSS/PSS/USS) is taken: 0 with preload_app! (the fork point), longer
      # when the worker loads the app itself after boot.
      def initialize(directory, identity, reference_delay: 0.0)
        @directory = directory
        @identity = identity
        @reference_delay = reference_delay.to_f
        @pid = Process.pid
        @started = Time.now.to_f
        @reference = nil
        @fallback = nil
        @lock = Mutex.new
      end

      def current? = Process.pid == @pid

      # call-seq:
      #   publisher.publish(sample = nil) -> Hash (the document written) or nil
      #
      # nil in a forked child that inherited this publisher (it is not that process).
      def publish(sample = nil)
        return nil unless current?

        @lock.synchronize do
          next nil if @withdrawn # a periodic publish that raced with #withdraw

          doc = document(sample)
          @directory&.write(@identity.label, @pid, doc)
          withdraw_file if @withdrawn # #withdraw ran while this was writing
          doc
        end
      end

      # call-seq:
      #   publisher.document(sample = nil) -> Hash (this process's state, not written)
      def document(sample = nil)
        sample ||= Report.latest_sample
        note_reference(sample)
        Report.build(@identity, reference: @reference, verdict: verdict, sample: sample)
      end

      # Removes this process's file (a worker shutting down cleanly).
      # For good: a periodic publish on the memwatch-gc thread that is writing meanwhile
      # sees the flag after its write and removes the file itself. No lock here: Puma
      # runs its shutdown hooks in a signal trap, where Mutex#lock raises ThreadError.
      def withdraw
        return false unless current? && @directory

        @withdrawn = true
        withdraw_file
      end

      # A new worker replaces its predecessor under the same label: drop the old file
      # when that process is gone.
      def prune_predecessors
        return unless @directory

        @directory.entries.each do |label, pid, path|
          @directory.remove(path) if label == @identity.label && pid != @pid && !Liveness.alive?(pid)
        end
      end

      private

      def withdraw_file = @directory.remove(@directory.file_for(@identity.label, @pid))

      def note_reference(sample)
        return if @reference || sample.nil?

        candidate = sample[:pss_bytes] ? sample : Report.recent_with_pss
        return unless candidate && candidate[:tick].to_f >= @started + @reference_delay

        @reference = Report.reference_from(candidate)
      end

      # The verdict memwatch's periodic classifier keeps (Runner.verdict); until there is
      # one, a verdict of our own at most every FALLBACK_VERDICT_EVERY seconds.
      def verdict
        kept = Memwatch::Runner.verdict if defined?(Memwatch::Runner)
        return kept if kept

        now = Process.clock_gettime(Process::CLOCK_MONOTONIC)
        return @fallback[1] if @fallback && now - @fallback[0] < FALLBACK_VERDICT_EVERY

        @fallback = [now, classify]
        @fallback[1]
      end

      def classify
        require_relative "../classifier"
        Memwatch::Classifier.new.classify(Memwatch.samples(resolution: :all))
      rescue StandardError, ScriptError
        nil
      end
    end
  end
end
