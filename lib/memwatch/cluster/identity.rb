# frozen_string_literal: true

module Memwatch
  module Cluster
    # Who a process is in the cluster, from its memwatch label: "worker-3" is Puma's
    # worker index 3, "master" the cluster's master, "single" (or no label) a process
    # serving alone. +worker+ is the stable name used in views and metric labels: it
    # survives restarts, unlike the pid.
    Identity = Struct.new(:role, :worker, :label) do
      # call-seq:
      #   Identity.for(label) -> identity
      def self.for(label)
        case label
        when /\Aworker-(\d{1,6})\z/ then new("worker", Regexp.last_match(1).to_i.to_s, label)
        when "master" then new("master", "master", "master")
        when nil, "single" then new("single", "single", "single")
        else new("process", label, label)
        end
      end

      # call-seq:
      #   Identity.current -> identity (from Memwatch.config's label)
      def self.current
        self.for(Memwatch.respond_to?(:config) ? Memwatch.config&.fetch(:label, nil) : nil)
      end

      # Sorts the master first, then workers by index, then anything else by name.
      def sort_key
        case role
        when "master" then [0, 0, ""]
        when "worker" then [1, worker.to_i, ""]
        else [2, 0, worker.to_s]
        end
      end
    end
  end
end
