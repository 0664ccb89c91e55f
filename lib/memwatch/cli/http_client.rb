# frozen_string_literal: true

require "net/http"
require "uri"
require "json"
require "memwatch/cli/command"

module Memwatch
  module CLI
    # Talks to a running app's memwatch endpoint (the URL it is mounted at, e.g.
    # http://127.0.0.1:9292/memwatch). Every failure becomes one CLI::Error line naming the
    # URL: connection refused, timeouts, 401/403/404/429 with what to do about them.
    class HttpClient
      NETWORK_ERRORS = {
        Errno::ECONNREFUSED => "connection refused (is the app running, and memwatch mounted there?)",
        Errno::EHOSTUNREACH => "host unreachable", Errno::ENETUNREACH => "network unreachable",
        Errno::ECONNRESET => "connection reset by the server", EOFError => "the server closed the connection",
        SocketError => "cannot resolve the host name", Net::OpenTimeout => "timed out connecting",
        Errno::ETIMEDOUT => "timed out connecting"
      }.freeze

      attr_reader :base

      # call-seq:
      #   HttpClient.new(url, token: ENV["MEMWATCH_TOKEN"], timeout: 10) -> client
      #
      # Raises CLI::UsageError for a URL that is not http(s)://host[:port][/path].
      def initialize(url, token: ENV.fetch("MEMWATCH_TOKEN", nil), timeout: 10.0)
        @base = parse(url)
        @token = token.to_s.empty? ? nil : token.strip
        @timeout = timeout
      end

      # call-seq:
      #   client.get_json(path, query = {}) -> Hash
      def get_json(path, query = {})
        body = request(Net::HTTP::Get, path, query) { |res| res.body }
        JSON.parse(body)
      rescue JSON::ParserError
        raise Error, "#{url(path)}: the answer is not JSON (is this a memwatch endpoint?)"
      end

      # call-seq:
      #   client.get_text(path, query = {}) -> String
      def get_text(path, query = {})
        request(Net::HTTP::Get, path, query) { |res| res.body.to_s }
      end

      # call-seq:
      #   client.post_stream(path, query = {}, read_timeout: 300) { |response, chunk| } -> response
      #
      # Streams a successful response body chunk by chunk (the response first, chunk nil).
      def post_stream(path, query = {}, read_timeout: 300)
        request(Net::HTTP::Post, path, query, read_timeout: read_timeout) do |res|
          yield res, nil
          res.read_body { |chunk| yield res, chunk }
          res
        end
      end

      # call-seq:
      #   client.url(path, query = {}) -> String
      def url(path, query = {})
        q = query.compact
        "#{@base}#{path}#{q.empty? ? '' : "?#{URI.encode_www_form(q)}"}"
      end

      private

      def parse(text)
        uri = URI.parse(text.to_s)
        raise URI::InvalidURIError unless %w[http https].include?(uri.scheme) && uri.host && !uri.host.empty?

        uri.query = nil
        uri.fragment = nil
        uri.to_s.chomp("/")
      rescue URI::InvalidURIError
        raise UsageError, "not an http(s) URL: #{text.inspect} (e.g. http://127.0.0.1:9292/memwatch)"
      end

      def request(klass, path, query, read_timeout: @timeout)
        target = URI(url(path, query))
        req = klass.new(target)
        req["authorization"] = "Bearer #{@token}" if @token
        req["accept-encoding"] = "identity" # a dump is gzipped only when asked for (gzip=1)
        connect(target, read_timeout) do |http|
          http.request(req) do |res|
            check(res, target)
            return yield(res)
          end
        end
      end

      def connect(target, read_timeout, &block)
        Net::HTTP.start(target.host, target.port, use_ssl: target.scheme == "https",
                                                  open_timeout: @timeout, read_timeout: read_timeout, &block)
      rescue Net::ReadTimeout
        raise Error, "#{target}: no answer within #{read_timeout}s (--timeout)"
      rescue *NETWORK_ERRORS.keys => e
        raise Error, "#{target}: #{NETWORK_ERRORS.find { |k, _| e.is_a?(k) }.last}"
      rescue OpenSSL::SSL::SSLError => e
        raise Error, "#{target}: TLS error: #{e.message}"
      end

      def check(res, target)
        code = res.code.to_i
        return if (200..299).cover?(code)

        raise Error, "#{target}: #{code} #{refusal(res, code)}"
      end

      def refusal(res, code)
        reason = error_reason(res)
        case code
        when 401 then "unauthorized: #{@token ? 'the token in MEMWATCH_TOKEN was rejected' : 'set MEMWATCH_TOKEN to the endpoint token'}"
        when 403 then "forbidden: #{reason || 'the endpoint refuses this client'}"
        when 404 then "not found: is memwatch mounted at #{@base}?"
        when 429 then "busy: #{reason || 'try again later'}; retry after #{res['retry-after'] || '?'}s"
        else "#{res.message}#{reason ? ": #{reason}" : ''}"
        end
      end

      def error_reason(res)
        body = res.body.to_s
        JSON.parse(body)["error"] if body.start_with?("{")
      rescue JSON::ParserError, TypeError
        nil
      end
    end
  end
end
