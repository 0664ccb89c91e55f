# frozen_string_literal: true

require "digest"
require "ipaddr"

module Memwatch
  module Endpoint
    # Who may use the endpoint. Deny by default:
    # - no token and no +allow+: loopback clients only;
    # - +allow+ (IPs/CIDRs or a callable on the env): those clients only;
    # - a token: every request must carry <tt>Authorization: Bearer <token></tt>.
    # A request that carries a forwarding header came through a proxy, so its REMOTE_ADDR
    # says nothing about the real client: it never passes an address rule.
    class Access
      FORWARDING = %w[HTTP_X_FORWARDED_FOR HTTP_FORWARDED HTTP_X_REAL_IP].freeze
      LOOPBACK_V4 = /\A127\.\d{1,3}\.\d{1,3}\.\d{1,3}\z/.freeze
      # A loopback Host defeats DNS rebinding (a web page whose name resolves to 127.0.0.1).
      LOOPBACK_HOST = /\A(?:localhost|[a-z0-9.-]+\.localhost|127\.\d{1,3}\.\d{1,3}\.\d{1,3}|\[::1\])(?::\d{1,5})?\z/i.freeze
      BEARER = /\A(?i:bearer) +([\x21-\x7e]{1,512}) *\z/.freeze # the scheme is case-insensitive

      # A refusal: the HTTP status and the one-line reason logged (and shown for 403).
      Denied = Struct.new(:status, :reason)

      def initialize(config)
        @config = config
        @token = config.token? # read per request: kept in ivars
        @allow = config.allow
        @hosts = {} # Host header => loopback?, for the few names a deployment uses
      end

      # call-seq:
      #   access.check(env) -> nil | Access::Denied
      #
      # nil when the request may proceed.
      def check(env)
        denied = network_check(env)
        return denied if denied
        return nil unless @token
        token_ok?(env["HTTP_AUTHORIZATION"]) ? nil : Denied.new(401, "missing or wrong bearer token")
      end

      # How the request was let in, for the audit log.
      def mode = @config.auth_mode

      def loopback?(env)
        addr = env["REMOTE_ADDR"].to_s
        return false unless addr == "127.0.0.1" || addr == "::1" || addr.match?(LOOPBACK_V4) || addr.start_with?("::ffff:127.")
        return false if forwarded?(env)
        host = env["HTTP_HOST"]
        return false unless host.nil? || loopback_host?(host)
        origin = env["HTTP_ORIGIN"] # a browser form posting from another site (CSRF)
        origin.nil? || origin.sub(%r{\Ahttps?://}, "").match?(LOOPBACK_HOST)
      end

      private

      def loopback_host?(host)
        known = @hosts[host]
        return known unless known.nil?
        ok = host.match?(LOOPBACK_HOST)
        @hosts[host] = ok if @hosts.size < 64 # bounded: Host is the client's to choose
        ok
      end

      def forwarded?(env)
        env.key?("HTTP_X_FORWARDED_FOR") || env.key?("HTTP_FORWARDED") || env.key?("HTTP_X_REAL_IP")
      end

      def network_check(env)
        if @allow.nil?
          return nil if @token || loopback?(env)
          return Denied.new(403, "only loopback clients are served without a token")
        end
        return Denied.new(403, "cross-site request refused") if cross_site?(env)
        allowed?(@allow, env) ? nil : Denied.new(403, "client not in the allow list")
      end

      # A browser sends Origin with cross-site POSTs (CSRF): it must name this very host.
      def cross_site?(env)
        origin = env["HTTP_ORIGIN"]
        !origin.nil? && origin.sub(%r{\Ahttps?://}, "") != env["HTTP_HOST"].to_s
      end

      def allowed?(allow, env)
        return permit?(allow, env) if allow.respond_to?(:call)
        return false if forwarded?(env)
        addr = IPAddr.new(env["REMOTE_ADDR"].to_s)
        allow.any? { |net| net.include?(addr) }
      rescue IPAddr::Error, ArgumentError
        false
      end

      # A failing permit callable denies; the host app's bug is logged, not raised.
      def permit?(allow, env)
        allow.call(env) ? true : false
      rescue StandardError => e
        @config.logger.warn("memwatch endpoint: allow callable raised #{e.class}: #{e.message}")
        false
      end

      # Digests have a fixed length, so comparing them in constant time hides the token's
      # length too (Rack::Utils.secure_compare returns early on a length mismatch).
      def token_ok?(header)
        m = BEARER.match(header.to_s)
        return false unless m
        a = Digest::SHA256.digest(m[1]).unpack("Q4")
        b = @config.token_digest.unpack("Q4")
        ((a[0] ^ b[0]) | (a[1] ^ b[1]) | (a[2] ^ b[2]) | (a[3] ^ b[3])).zero?
      end
    end
  end
end
