# frozen_string_literal: true

require_relative "../endpoint/response"
require_relative "../endpoint/source"
require_relative "../cluster"
require_relative "exposition"
require_relative "families"

module Memwatch
  class Metrics
    CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
    PATH = "/metrics"

    class << self
      # call-seq:
      #   Memwatch::Metrics.render(processes = Cluster.view.processes) -> String
      #
      # Every family, for every process: this one, and in a Puma cluster every other
      # process's published state, each labelled with its worker.
      def render(processes = Cluster.view.processes)
        out = Exposition.new
        Families::LIST.each do |name, type, extract, help|
          out.family(name, type, help, processes.flat_map { |doc| samples(doc, extract) })
        end
        out.to_s
      end

      # The /metrics route's handler (Memwatch::App and Memwatch::Metrics).
      def response(_ctx)
        Endpoint::Source.require!
        Endpoint::Response.build(200, CONTENT_TYPE, render)
      end

      private

      # One process's [labels, value] pairs; every sample carries its worker label.
      def samples(doc, extract)
        value = extract.call(doc)
        pairs = value.is_a?(Array) ? value : [[{}, value]]
        pairs.map { |labels, v| [{ "worker" => doc["worker"].to_s }.merge(labels), v] }
      end
    end
  end
end
