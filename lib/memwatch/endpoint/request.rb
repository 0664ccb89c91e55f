# frozen_string_literal: true

require "uri"

module Memwatch
  module Endpoint
    # A request the endpoint refuses: HTTP status plus a one-line reason for the client.
    class Refused < StandardError
      attr_reader :status, :headers

      def initialize(status, reason, headers = {})
        super(reason)
        @status = status
        @headers = headers
      end
    end

    # The parts of a Rack request the endpoint uses, checked strictly: bounded sizes, no
    # body (parameters go in the query string), known parameters with typed values only.
    class Request
      MAX_PATH = 256
      MAX_QUERY = 1024
      MAX_VALUE = 128
      BOOLS = { "" => true, "1" => true, "true" => true, "yes" => true, "on" => true,
                "0" => false, "false" => false, "no" => false, "off" => false }.freeze
      INT = /\A\d{1,15}\z/.freeze
      EMPTY = {}.freeze
      FLOAT = /\A\d{1,15}(?:\.\d{1,9})?\z/.freeze

      attr_reader :env, :path

      # call-seq:
      #   Request.new(env) -> request    (raises Endpoint::Refused)
      #
      # Checks the framing (sizes, no body) at once; the query is parsed by #params.
      def initialize(env)
        @env = env
        @path = normalize_path(env["PATH_INFO"] || "")
        check_body if env["CONTENT_LENGTH"] || env["HTTP_TRANSFER_ENCODING"]
        @query_string = env["QUERY_STRING"] || ""
        refuse(414, "query string longer than #{MAX_QUERY} bytes") if @query_string.bytesize > MAX_QUERY
      end

      def verb = @env["REQUEST_METHOD"].to_s

      def head? = @env["REQUEST_METHOD"] == "HEAD"

      # The base path the endpoint is mounted at, for links (Rails mount, Rack map, middleware).
      def base = @env["SCRIPT_NAME"].to_s

      # call-seq:
      #   request.params(spec) -> Hash
      #
      # +spec+ maps a parameter name (Symbol) to its type: +:bool+, +:float+, an Integer
      # Range, or an Array of allowed Strings. Unknown names and bad values raise Refused 400.
      def params(spec)
        return EMPTY if @query_string.empty? # the common case, kept cheap (status is polled)
        @query ||= parse_query(@query_string)
        unknown = @query.keys - spec.keys.map(&:to_s)
        unless unknown.empty?
          known = spec.empty? ? "none" : spec.keys.join(", ")
          refuse(400, "unknown parameter #{unknown.first.inspect} (known: #{known})")
        end
        spec.each_with_object({}) do |(name, type), out|
          raw = @query[name.to_s]
          out[name] = convert(name, raw, type) unless raw.nil?
        end
      end

      private

      def refuse(status, reason) = raise(Refused.new(status, reason))

      def normalize_path(path)
        refuse(414, "path longer than #{MAX_PATH} bytes") if path.bytesize > MAX_PATH
        return "/" if path.empty? || path == "/"
        path.end_with?("/") ? path.chomp("/") : path.to_s
      end

      def check_body
        length = @env["CONTENT_LENGTH"]
        return if (length.nil? || length == "0" || length == "") && !@env.key?("HTTP_TRANSFER_ENCODING")
        refuse(400, "malformed content-length") unless length.nil? || length.to_s.match?(INT)
        return if length.to_i.zero? && !@env.key?("HTTP_TRANSFER_ENCODING")
        refuse(413, "request bodies are not accepted; pass parameters in the query string")
      end

      def parse_query(query)
        query.split("&").each_with_object({}) do |pair, out|
          next if pair.empty?
          key, value = pair.split("=", 2).map { |part| decode(part) }
          refuse(400, "bad parameter name #{key[0, 40].inspect}") unless key.match?(/\A[a-z_]{1,32}\z/)
          refuse(400, "parameter #{key.inspect} given twice") if out.key?(key)
          out[key] = value || ""
        end
      end

      def decode(part)
        s = URI.decode_www_form_component(part)
        refuse(400, "parameter value longer than #{MAX_VALUE} bytes") if s.bytesize > MAX_VALUE
        refuse(400, "query string is not valid UTF-8") unless s.valid_encoding?
        s
      rescue ArgumentError
        refuse(400, "malformed percent-encoding in the query string")
      end

      def convert(name, raw, type)
        case type
        when :bool then BOOLS.fetch(raw) { bad(name, raw, "a boolean (1/0, true/false)") }
        when :float then raw.match?(FLOAT) ? raw.to_f : bad(name, raw, "a non-negative number")
        when Range then int_in(name, raw, type)
        when Array then type.include?(raw) ? raw : bad(name, raw, "one of #{type.join(", ")}")
        else raise ArgumentError, "unknown parameter type #{type.inspect}"
        end
      end

      def int_in(name, raw, range)
        value = raw.match?(INT) ? raw.to_i : nil
        return value if value && range.cover?(value)
        bad(name, raw, "an integer in #{range.min}..#{range.max}")
      end

      def bad(name, raw, expected)
        refuse(400, "#{name}=#{raw[0, 40].inspect} is not #{expected}")
      end
    end
  end
end
