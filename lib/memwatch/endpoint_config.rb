# frozen_string_literal: true

require "digest"
require "ipaddr"
require "logger"
require "tmpdir"

module Memwatch
  # Raised at boot when the endpoint's options are unsafe or malformed.
  class EndpointConfigError < ArgumentError; end

  # The options of the Rack endpoint (Memwatch::App, Memwatch::Middleware), checked once
  # when the app is built so that a bad or unsafe configuration fails at boot, not on the
  # first request. The token itself is never kept: only its SHA-256 digest is.
  class EndpointConfig
    DEFAULTS = {
      token: nil, token_file: nil, token_env: "MEMWATCH_TOKEN", allow: nil,
      dumps: false, tracing: false,
      dump_max_bytes: 4 * 1024**3, dump_timeout: 300, dump_cooldown: 30, dump_dir: nil,
      tracing_max_seconds: 600, logger: nil
    }.freeze
    MIN_TOKEN = 16
    TOKEN_FORMAT = /\A[\x21-\x7e]+\z/.freeze # printable ASCII, no spaces: header-safe

    attr_reader :allow, :dump_max_bytes, :dump_timeout, :dump_cooldown,
                :tracing_max_seconds, :logger, :token_digest

    # call-seq:
    #   EndpointConfig.new(**options) -> config
    #
    # Options (all optional): +token+, +token_file+, +token_env+ (default
    # <tt>"MEMWATCH_TOKEN"</tt>; <tt>MEMWATCH_TOKEN_FILE</tt> is read too), +allow+ (IP
    # addresses/CIDRs or a callable taking the Rack env), +dumps+, +tracing+,
    # +dump_max_bytes+, +dump_timeout+, +dump_cooldown+ (seconds), +dump_dir+,
    # +tracing_max_seconds+, +logger+. Raises Memwatch::EndpointConfigError.
    def initialize(**options)
      unknown = options.keys - DEFAULTS.keys
      fail!("unknown option#{"s" if unknown.size > 1} #{unknown.join(", ")} (known: #{DEFAULTS.keys.join(", ")})") if unknown.any?
      opts = DEFAULTS.merge(options)
      @token_digest = load_token(opts)
      @allow = parse_allow(opts[:allow])
      @dumps = flag(opts, :dumps)
      @tracing = flag(opts, :tracing)
      check_features
      read_limits(opts)
      @dump_dir_option = opts[:dump_dir]
      @logger = opts[:logger] || default_logger
      fail!("logger: must respond to info and warn") unless %i[info warn].all? { |m| @logger.respond_to?(m) }
    end

    def token? = !@token_digest.nil?
    def dumps? = @dumps
    def tracing? = @tracing

    # The private directory (mode 0700, ours) where dumps are written before streaming.
    def dump_dir
      @dump_dir ||= (@dump_dir_option || File.join(Dir.tmpdir, "memwatch-#{Process.uid}")).to_s
    end

    # What the status route may show about the endpoint: no secrets.
    def public_h
      { auth: auth_mode, dumps: @dumps, tracing: @tracing, dump_max_bytes: @dump_max_bytes,
        dump_timeout: @dump_timeout, dump_cooldown: @dump_cooldown }
    end

    def auth_mode
      return "token+allow" if token? && @allow
      return "token" if token?
      @allow ? "allow" : "loopback"
    end

    private

    def fail!(msg) = raise(EndpointConfigError, "memwatch endpoint: #{msg}")

    def load_token(opts)
      token = explicit_token(opts)
      token ||= ENV[opts[:token_env]] if opts[:token_env] && !ENV[opts[:token_env]].to_s.empty?
      token ||= read_token_file(ENV["MEMWATCH_TOKEN_FILE"], "MEMWATCH_TOKEN_FILE") if opts[:token_env] && ENV["MEMWATCH_TOKEN_FILE"]
      return nil if token.nil?
      check_token(token.strip)
      Digest::SHA256.digest(token.strip)
    end

    def explicit_token(opts)
      fail!("give token: or token_file:, not both") if opts[:token] && opts[:token_file]
      return read_token_file(opts[:token_file], "token_file") if opts[:token_file]
      fail!("token: must be a String") unless opts[:token].nil? || opts[:token].is_a?(String)
      opts[:token]
    end

    def read_token_file(path, name)
      File.read(path.to_s)
    rescue SystemCallError, IOError => e
      fail!("#{name}: cannot read #{path}: #{e.message}")
    end

    def check_token(token)
      fail!("the token is shorter than #{MIN_TOKEN} characters; generate one with: ruby -rsecurerandom -e 'puts SecureRandom.hex(32)'") if token.size < MIN_TOKEN
      fail!("the token must be printable ASCII without spaces") unless token.match?(TOKEN_FORMAT)
    end

    def parse_allow(allow)
      return nil if allow.nil?
      return allow if allow.respond_to?(:call)
      list = Array(allow).map { |a| a.is_a?(IPAddr) ? a : parse_addr(a) }
      fail!("allow: is empty (omit it to serve loopback clients only)") if list.empty?
      list.freeze
    end

    def parse_addr(addr)
      IPAddr.new(addr.to_s)
    rescue IPAddr::Error, ArgumentError
      fail!("allow: #{addr.inspect} is not an IP address or CIDR")
    end

    def flag(opts, key)
      fail!("#{key}: must be true or false") unless [true, false].include?(opts[key])
      opts[key]
    end

    def check_features
      %i[dumps tracing].each do |key|
        next unless instance_variable_get(:"@#{key}") && !token?
        fail!("#{key}: true needs a token (set MEMWATCH_TOKEN, or pass token: or token_file:). " \
              "A heap dump holds every string in the process, secrets included.")
      end
    end

    def read_limits(opts)
      @dump_max_bytes = positive(opts, :dump_max_bytes, Integer)
      @dump_timeout = positive(opts, :dump_timeout, Numeric)
      @tracing_max_seconds = positive(opts, :tracing_max_seconds, Numeric)
      @dump_cooldown = opts[:dump_cooldown]
      fail!("dump_cooldown: must be a number >= 0") unless @dump_cooldown.is_a?(Numeric) && @dump_cooldown >= 0
    end

    def positive(opts, key, type)
      value = opts[key]
      fail!("#{key}: must be a positive #{type.name.downcase}") unless value.is_a?(type) && value.positive?
      value
    end

    def default_logger
      Logger.new($stderr)
    end
  end
end
