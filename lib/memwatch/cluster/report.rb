# frozen_string_literal: true

module Memwatch
  module Cluster
    # This process's state as plain JSON data: what it publishes to the shared directory,
    # and what the cluster view and /metrics show for it. Cheap (no /proc reads of its
    # own unless a fresh sample is asked for): it copies the newest samples from the rings.
    module Report
      SCHEMA = 1
      COW_KEYS = %i[rss_bytes pss_bytes uss_bytes].freeze
      VERDICT_KEYS = %w[kind level leak confidence explanation next_step].freeze

      module_function

      # call-seq:
      #   Report.build(identity, reference: nil, verdict: nil, sample: nil) -> Hash
      #
      # +sample+: a fresh Memwatch.sample (at boot, before the rings have one); otherwise
      # the newest ring sample is used.
      def build(identity, reference: nil, verdict: nil, sample: nil)
        sample ||= latest_sample
        config = Memwatch.config || {}
        {
          "schema" => SCHEMA, "role" => identity.role, "worker" => identity.worker,
          "label" => identity.label, "pid" => Process.pid, "ppid" => Process.ppid,
          "published" => Time.now.to_f, "running" => Memwatch.running?,
          "interval" => config[:interval], "publish_every" => Cluster::PUBLISH_EVERY,
          "log_path" => Memwatch.log_path, "version" => Memwatch::VERSION, "ruby" => RUBY_VERSION,
          "allocator" => Memwatch.allocator, "stats" => stats,
          "sample" => plain(sample), "memory" => memory(sample),
          "reference" => reference, "verdict" => compact_verdict(verdict)
        }
      end

      def latest_sample
        Memwatch.samples(limit: 1).last
      end

      # RSS from the newest sample; PSS and USS from the newest sample that has them
      # (smaps_rollup is read only every pss_every ticks).
      def memory(sample)
        return nil unless sample

        with_pss = sample[:pss_bytes] ? sample : recent_with_pss
        { "tick" => sample[:tick], "rss_bytes" => sample[:rss_bytes],
          "pss_bytes" => with_pss&.dig(:pss_bytes), "uss_bytes" => with_pss&.dig(:uss_bytes),
          "pss_tick" => with_pss&.dig(:tick) }
      end

      def recent_with_pss
        config = Memwatch.config
        # pss_ticks, not config[:pss_every]: that is nil by default (~10 s of ticks)
        limit = (config.respond_to?(:pss_ticks) ? config.pss_ticks : 10) + 1
        Memwatch.samples(limit: limit).reverse_each.find { |s| s[:pss_bytes] }
      end

      # call-seq:
      #   Report.reference_from(sample) -> Hash or nil
      #
      # The post-boot reference a worker's growth is measured from: a sample with all of
      # RSS, PSS and USS.
      def reference_from(sample)
        return nil unless sample && COW_KEYS.all? { |k| sample[k].is_a?(Integer) }

        { "tick" => sample[:tick], "rss_bytes" => sample[:rss_bytes], "pss_bytes" => sample[:pss_bytes],
          "uss_bytes" => sample[:uss_bytes] }
      end

      def stats
        s = Memwatch.stats
        { "cpu_seconds" => s[:cpu_seconds], "bytes" => s[:bytes], "ticks" => s[:ticks], "errors" => s[:errors] }
      end

      # The verdict without its bulky evidence: kind, level, confidence, the RSS growth
      # rate (bytes/hour) and the one-line explanation.
      def compact_verdict(verdict)
        return nil if verdict.nil?

        h = verdict.respond_to?(:to_h) ? verdict.to_h : verdict
        h = h.transform_keys(&:to_s)
        out = h.slice(*VERDICT_KEYS)
        out["level"] = out["level"]&.to_s
        out["rss_bytes_per_hour"] = (h["rates"] || {}).then { |r| r["rss"] || r[:rss] }
        plain(out)
      end

      # JSON-safe copy: String keys, no NaN/Infinity, no objects.
      def plain(value)
        case value
        when Hash then value.each_with_object({}) { |(k, v), out| out[k.to_s] = plain(v) }
        when Array then value.map { |v| plain(v) }
        when Float then value.finite? ? value : nil
        when String, Integer, true, false, nil then value
        when Symbol then value.to_s
        else value.to_s
        end
      end
    end
  end
end
