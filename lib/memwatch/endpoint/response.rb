# frozen_string_literal: true

require "json"

module Memwatch
  module Endpoint
    # Rack response triples that are valid on Rack 2.2 and 3: an Integer status, a fresh
    # unfrozen Hash of lowercase headers with single String values, and an Array body.
    module Response
      # Nothing here may be cached, sniffed, framed or sent as a referrer; no CORS headers.
      # (#build spells them out in one literal: cheaper on the status route's hot path.)
      SECURITY = {
        "cache-control" => "no-store",
        "x-content-type-options" => "nosniff",
        "x-frame-options" => "DENY",
        "referrer-policy" => "no-referrer"
      }.freeze
      JSON_TYPE = "application/json; charset=utf-8"

      module_function

      # call-seq:
      #   Response.build(status, type, body, extra_headers = {}) -> [status, headers, [body]]
      def build(status, type, body, extra = {})
        headers = { "cache-control" => "no-store", "x-content-type-options" => "nosniff",
                    "x-frame-options" => "DENY", "referrer-policy" => "no-referrer", "content-type" => type,
                    "content-length" => body.bytesize.to_s, "x-memwatch-pid" => Process.pid.to_s }
        headers.merge!(extra) unless extra.empty?
        [status, headers, [body]]
      end

      # call-seq:
      #   Response.json(status, object, extra_headers = {}) -> triple
      def json(status, object, extra = {})
        build(status, JSON_TYPE, "#{JSON.generate(object)}\n", extra)
      end

      # A refusal or failure: <tt>{"error": reason}</tt>, nothing else.
      def error(status, reason, extra = {})
        json(status, { error: reason }, extra)
      end

      # HEAD answers carry the GET headers and an empty body.
      def strip_body(triple)
        triple[2].close if triple[2].respond_to?(:close)
        [triple[0], triple[1], []]
      end
    end
  end
end
