# frozen_string_literal: true

module Memwatch
  module Endpoint
    # The endpoint's only door into memwatch's data (doc/internals.md, "Ruby API"). The
    # endpoint must keep serving while parts are missing (no native extension, no
    # classifier yet), so every read here is defensive and JSON-safe.
    module Source
      SECRET_KEY = /token|secret|password|passwd|credential|auth|key\z/i.freeze

      module_function

      # Once loaded, the native extension stays: remember a yes.
      def available?
        @available ||= Memwatch.respond_to?(:samples) && Memwatch.respond_to?(:running?)
      end

      # call-seq:
      #   Source.require! -> nil   (raises Refused 503 without the native extension)
      def require!
        return if available?
        raise Refused.new(503, "memwatch's native extension is not loaded (run `rake compile`?)")
      end

      # The newest sample of the rings, or nil before the first tick.
      def latest
        Memwatch.samples(limit: 1).last
      end

      def samples(since: nil, limit: nil, resolution: :recent)
        Memwatch.samples(since: since, limit: limit, resolution: resolution)
      end

      def columns
        Memwatch.respond_to?(:columns) ? Memwatch.columns : (latest || {}).keys
      end

      def config
        scrub(Memwatch.respond_to?(:config) ? Memwatch.config : {})
      end

      def allocator_info
        scrub(Memwatch.respond_to?(:allocator_info) ? Memwatch.allocator_info : {})
      end

      def allocator
        Memwatch.respond_to?(:allocator) ? Memwatch.allocator : "unknown"
      end

      # call-seq:
      #   Source.scrub(value) -> plain data
      #
      # A copy JSON can carry: Hashes with String keys, Arrays, Strings, finite numbers,
      # booleans, nil. Other objects become their class name; values under secret-looking
      # keys become "[redacted]". Depth is capped.
      def scrub(value, depth = 0)
        return nil if depth > 8
        case value
        when Hash then value.each_with_object({}) { |(k, v), out| out[k.to_s] = k.to_s.match?(SECRET_KEY) ? "[redacted]" : scrub(v, depth + 1) }
        when Array then value.first(1000).map { |v| scrub(v, depth + 1) }
        when Float then value.finite? ? value : nil
        when String, Integer, true, false, nil then value
        when Symbol then value.to_s
        else "#<#{value.class}>"
        end
      end
    end
  end
end
