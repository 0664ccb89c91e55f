# frozen_string_literal: true

require_relative "design"

module Memwatch
  class Attribution
    # The report: for every route, the retained growth per request that a
    # non-negative least-squares fit over the recorded intervals assigns to it,
    #
    #   growth(interval) = sum over routes of bytes_per_request(route) * requests(route, interval)
    #                      + bytes_per_second * seconds(interval) + noise,
    #
    # with a standard error. Requests that overlap in time are handled by the fit
    # itself: nothing is divided by hand. What separates one route from another is
    # how their shares of the traffic vary between intervals, so confidence grows with
    # the number of requests (as 1/sqrt(n) for a perfectly steady mix) and the report
    # gives the standard error next to every estimate.
    class Ranking
      SIGNALS = %i[retained rss malloc old allocated].freeze
      SUSPECT_T = 3.0
      SUSPECT_BYTES = 1024
      MIN_REQUESTS = 30
      MIN_INTERVALS = 8

      # call-seq:
      #   Ranking.sentence(suspects) -> String or nil
      def self.sentence(suspects)
        return nil if suspects.empty?

        parts = suspects.map do |s|
          "#{s["route"]} (~#{human(s["retained_bytes_per_request"])} retained per request " \
            "± #{human(s["retained_bytes_per_request_se"])}, #{s["requests"]} requests, #{s["confidence"]} confidence)"
        end
        "Routes whose requests leave memory behind: #{parts.join("; ")}."
      end

      def self.human(bytes)
        return "?" if bytes.nil?

        bytes >= 1_048_576 ? format("%.1f MB", bytes / 1_048_576.0) : format("%.1f KB", bytes / 1024.0)
      end

      def initialize(routes, intervals, recorder)
        @routes = routes.to_h { |r| [r.key, r] }
        @intervals = intervals
        @recorder = recorder
        @design = Design.new(intervals) # counts are exact even when sampling (Recorder#enter)
      end

      # call-seq:
      #   ranking.to_h -> Hash
      def to_h
        fits = enough? ? SIGNALS.to_h { |s| [s, fit(s)] } : {}
        rows = route_rows(fits).sort_by { |r| [r["suspect"] ? 0 : 1, -(r["retained_bytes"] || 0), -r["requests"]] }
        { "pid" => Process.pid, "window_seconds" => @design.seconds.round(1), "intervals" => @intervals.size,
          "requests" => window_counts.values.sum, "sample_every" => sampled_at,
          "status" => enough? ? "ok" : "insufficient_data",
          "method" => "non-negative least squares of per-interval growth on per-route request counts",
          "unexplained_bytes_per_second" => fits[:retained]&.then { |f| f[:x].last.round },
          "routes" => rows, "errors" => @recorder.errors.dup, "notes" => notes(fits) }
      end

      private

      def enough? = @intervals.size >= MIN_INTERVALS

      # The largest sampling rate among the window's intervals (1: every request).
      def sampled_at = @sampled_at ||= [@intervals.map { |i| i[3] || 1 }.max || 1, @recorder.sample_every].max

      def fit(signal)
        rows, y = @design.system(signal)
        return nil if rows.size < MIN_INTERVALS

        NNLS.solve(rows, y).merge(n: rows.size)
      end

      def window_counts
        @window_counts ||= @intervals.each_with_object(Hash.new(0)) { |(_, _, c), h| c.each { |k, n| h[k] += n } }
      end

      def route_rows(fits)
        (window_counts.keys | @routes.keys).map do |key|
          n = window_counts.fetch(key, 0)
          col = @design.columns.index(key)
          life = @routes[key]
          row = { "route" => key, "requests" => n, "requests_total" => life ? life.seen : n,
                  "mean_seconds" => life && life.requests.positive? ? (life.seconds / life.requests).round(6) : nil,
                  "allocated_objects_per_request" => est(fits[:allocated], col)&.round,
                  "allocated_objects_in_flight_per_request" => life && life.requests.positive? ? (life.allocated / life.requests).round : nil,
                  "measured_alone_share" => life && life.allocated.positive? ? (life.solo / life.allocated).clamp(0.0, 1.0).round(3) : nil }
          judge(row.merge(estimates(fits, col)), n)
        end
      end

      def estimates(fits, col)
        out = {}
        { retained: "retained_bytes_per_request", rss: "rss_bytes_per_request", malloc: "malloc_bytes_per_request",
          old: "old_objects_per_request" }.each do |s, name|
          out[name] = est(fits[s], col)&.round
          out["#{name}_se"] = se(fits[s], col)&.round
        end
        out
      end

      def est(f, col) = f && col ? f[:x][col] : nil
      def se(f, col) = f && col ? f[:se][col] : nil

      # A suspect leaves at least SUSPECT_BYTES per request, SUSPECT_T standard
      # errors above zero, over at least MIN_REQUESTS requests. The evidence is
      # the retained-bytes fit, or the old-objects fit when that is stronger:
      # for a leak of small Ruby objects the old-object count is far less noisy
      # than RSS, which moves in heap-page batches (measured on ten_routes.ru
      # under load: old objects t = 6.6, retained bytes t = 5.7 after 60 s).
      # "t" and "evidence" say which one decided.
      def judge(row, n)
        b = row["retained_bytes_per_request"]
        t, evidence = strongest(row)
        row["retained_bytes"] = b && (b * n).round
        row["t"] = t&.round(1)
        row["evidence"] = evidence
        row["confidence"] = confidence(t, n)
        row["suspect"] = !t.nil? && t >= SUSPECT_T && b.to_i >= SUSPECT_BYTES && n >= MIN_REQUESTS
        row
      end

      # [t, signal name] of the retained-bytes fit and the old-objects fit (in
      # bytes: SLOT each, and only when that clears SUSPECT_BYTES), the larger.
      def strongest(row)
        ts = { "retained_bytes" => ratio(row["retained_bytes_per_request"], row["retained_bytes_per_request_se"]) }
        old = row["old_objects_per_request"]
        ts["old_objects"] = ratio(old, row["old_objects_per_request_se"]) if old && old * Design::SLOT >= SUSPECT_BYTES
        ts.compact.max_by { |_, t| t }&.reverse || [nil, nil]
      end

      def ratio(est, se) = est && se&.positive? ? est.to_f / se : nil

      def confidence(t, n)
        return "none" if t.nil? || n < MIN_REQUESTS
        return "high" if t >= 5 && n >= 300
        return "medium" if t >= SUSPECT_T

        "low"
      end

      def notes(fits)
        notes = []
        notes << "fewer than #{MIN_INTERVALS} intervals recorded: no estimate yet" unless enough?
        notes << "memwatch is not sampling: retained bytes come from RSS outside the Ruby heap, not the allocator" if fits.any? && fits[:malloc].nil?
        notes << "1 request in #{sampled_at} (chosen at random) is measured for allocations and time; every request is counted" if sampled_at > 1
        notes << "routes beyond the #{Design::MAX_COLUMNS} busiest share one column" if @design.columns.include?(Recorder::OTHER)
        notes
      end
    end
  end
end
