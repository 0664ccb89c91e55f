# frozen_string_literal: true

require_relative "identity"
require_relative "liveness"

module Memwatch
  module Cluster
    # One view over the cluster, built by whichever process serves the request: its own
    # state, live, plus every other process's newest published state. Files of processes
    # that exited are deleted; states older than their staleness limit are left out. Both
    # are listed under "pruned" so nothing disappears unexplained.
    class View
      MIN_STALE = 10.0 # seconds; a state is stale after max(this, 3 publish intervals)
      GROWTH_KEYS = %w[rss_bytes pss_bytes uss_bytes].freeze

      attr_reader :processes, :pruned

      # call-seq:
      #   View.new(directory, own_state, now: Time.now.to_f) -> view
      def initialize(directory, own_state, now: Time.now.to_f)
        @directory = directory
        @now = now
        @pruned = []
        @processes = dedupe([own_state.merge("self" => true)] + others(own_state["pid"]))
                     .map { |doc| annotate(doc) }
                     .sort_by { |doc| Identity.new(doc["role"], doc["worker"].to_s, doc["label"]).sort_key }
      end

      # call-seq:
      #   view.document -> Hash (the JSON of GET /cluster)
      def document
        own = @processes.find { |p| p["self"] }
        {
          "answered_by" => { "worker" => own["worker"], "role" => own["role"], "pid" => own["pid"] },
          "mode" => @directory ? "cluster" : "single",
          "directory" => @directory&.path, "generated" => @now,
          "processes" => @processes, "pruned" => @pruned, "totals" => totals
        }
      end

      def self.stale_after(doc)
        every = doc["publish_every"].is_a?(Numeric) ? doc["publish_every"] : 0
        [MIN_STALE, 3 * every].max
      end

      private

      def others(own_pid)
        return [] unless @directory

        @directory.entries.filter_map do |label, pid, path|
          next if pid == own_pid

          state(label, pid, path)
        end
      end

      def state(label, pid, path)
        unless Liveness.alive?(pid)
          @directory.remove(path)
          return prune(label, pid, "exited")
        end
        doc = @directory.read(path) or return prune(label, pid, "unreadable")
        age = @now - doc["published"].to_f
        return prune(label, pid, "stale (#{age.round}s since its last publish)") if age > View.stale_after(doc)

        doc
      end

      def prune(label, pid, reason)
        @pruned << { "label" => label, "pid" => pid, "reason" => reason }
        nil
      end

      # Two live processes under one label (a restart in progress): the newest wins.
      def dedupe(docs)
        docs.group_by { |d| d["label"] }.map do |_, same|
          keep = same.max_by { |d| [d["self"] ? 1 : 0, d["published"].to_f] }
          (same - [keep]).each { |d| prune(d["label"], d["pid"], "replaced by pid #{keep["pid"]}") }
          keep
        end
      end

      def annotate(doc)
        doc.merge("self" => doc["self"] == true, "age_seconds" => (@now - doc["published"].to_f).round(3),
                  "growth" => growth(doc["memory"], doc["reference"]),
                  "shared_bytes" => shared(doc["memory"]))
      end

      # Growth since the post-boot reference, per figure, and USS growth per hour (the
      # memory only this process holds: what a worker killer should look at).
      def growth(memory, reference)
        return nil unless memory.is_a?(Hash) && reference.is_a?(Hash)

        out = GROWTH_KEYS.to_h { |k| [k, delta(memory[k], reference[k])] }
        hours = (memory["pss_tick"].to_f - reference["tick"].to_f) / 3600.0
        out["uss_bytes_per_hour"] = hours > 0.01 && out["uss_bytes"] ? (out["uss_bytes"] / hours).round : nil
        out.merge("since" => reference["tick"])
      end

      def delta(now, ref) = now.is_a?(Integer) && ref.is_a?(Integer) ? now - ref : nil

      # RSS − USS: pages this process shares with others (copy-on-write, libraries).
      def shared(memory)
        return nil unless memory.is_a?(Hash) && memory["rss_bytes"].is_a?(Integer) && memory["uss_bytes"].is_a?(Integer)

        memory["rss_bytes"] - memory["uss_bytes"]
      end

      # Summing RSS counts shared pages once per process; summing PSS does not.
      def totals
        sums = GROWTH_KEYS.to_h do |k|
          values = @processes.map { |p| p.dig("memory", k) }
          [k, values.all?(Integer) ? values.sum : nil]
        end
        sums.merge("processes" => @processes.size,
                   "largest_by_rss" => largest("rss_bytes"), "largest_by_uss" => largest("uss_bytes"))
      end

      def largest(key)
        best = @processes.select { |p| p["role"] == "worker" && p.dig("memory", key).is_a?(Integer) }
                         .max_by { |p| p.dig("memory", key) }
        best && best["worker"]
      end
    end
  end
end
