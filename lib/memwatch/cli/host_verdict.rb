# frozen_string_literal: true

require "memwatch/cli"
require "memwatch/cli/format"
require "memwatch/cli/verdicts"
require "memwatch/host_recorder/ranking"

module Memwatch
  module CLI
    # The verdict on a `record --all` log, shared by `memwatch top` and `memwatch summary`:
    # a growing process, host memory growing outside every process, both, or neither.
    module HostVerdict
      include Format
      Ranking = Memwatch::HostRecorder::Ranking

      # call-seq:
      #   HostVerdict.of(reader) -> Verdicts::Known
      def self.of(reader)
        ranking = Ranking.new(reader.to_a, interval: reader.metadata[:interval])
        judge = Object.new.extend(self)
        code = judge.exit_code(ranking)
        kind = { INSUFFICIENT => "insufficient_data", OK => "none" }.fetch(code) { ranking.outside? ? "outside_process" : "process" }
        Verdicts::Known.new(kind, judge.verdict_text(ranking), code)
      end

      # 0 nothing grows, 1 a process or the host outside processes grows, 3 too few samples.
      def exit_code(ranking)
        return INSUFFICIENT if ranking.host_samples < 3
        return LEAK if ranking.outside? || ranking.growing.any?

        OK
      end

      # call-seq:
      #   verdict_text(ranking) -> String
      def verdict_text(r)
        return "insufficient data (#{r.host_samples} host samples; record longer)" if r.host_samples < 3

        parts = []
        parts << outside_text(r) if r.outside?
        top = r.growing.first
        parts << "process #{top.pid} (#{top.command.to_s[0, 60]}) grows #{rate(top.rate)}" if top
        parts.empty? ? "no process and no host-level memory grows" : parts.join("; ")
      end

      def outside_text(r)
        h = r.host
        outside = h[:outside][:rate]
        blame = h[:components].slice(*Ranking::OUTSIDE).max_by { |_, s| s[:rate] }
        what = blame && blame[1][:rate] > outside / 3 ? Ranking::COMPONENTS[blame[0]] : "not in /proc/meminfo's breakdown"
        "host memory grows #{rate(outside)} outside any process, mostly #{what}"
      end
    end
  end
end
