# frozen_string_literal: true

require "json"
require "logger"
require "stringio"
gem "rack", ENV["MEMWATCH_RACK_VERSION"] if ENV["MEMWATCH_RACK_VERSION"] # e.g. Debian's 2.2.22
require "rack"
require "rack/lint"
require "rack/test"
require "memwatch"
require "memwatch/app"
require "memwatch/middleware"

# Shared by the endpoint tests: apps built with a captured log, rack-test sessions wrapped
# in Rack::Lint, the real sampler started for the duration of a test.
module EndpointHelper
  TOKEN = "test-token-0123456789abcdef-memwatch"

  def build_app(**opts)
    @log = StringIO.new
    @dump_dir ||= Dir.mktmpdir("memwatch-endpoint-")
    Memwatch::App.new(token_env: nil, logger: Logger.new(@log), dump_dir: File.join(@dump_dir, "dumps"),
                      dump_cooldown: 0, **opts)
  end

  def cleanup_dump_dir
    FileUtils.rm_rf(@dump_dir) if @dump_dir
  end

  # A rack-test session on Rack::Lint(app). rack-test's default Host (example.org) is
  # not a loopback name, so loopback tests say "localhost".
  def session(app, host: "localhost")
    Rack::Test::Session.new(Rack::Lint.new(app), host)
  end

  def bearer(token = TOKEN) = { "HTTP_AUTHORIZATION" => "Bearer #{token}" }

  def start_sampler
    @started_sampler = Memwatch.start(interval: 0.05)
    wait_until("a first sample") { Memwatch.samples.any? }
  end

  def stop_sampler
    Memwatch.stop if @started_sampler
    @started_sampler = false
  end

  def wait_until(what, timeout: 10)
    deadline = Process.clock_gettime(Process::CLOCK_MONOTONIC) + timeout
    until yield
      flunk("timed out waiting for #{what}") if Process.clock_gettime(Process::CLOCK_MONOTONIC) > deadline
      sleep 0.02
    end
  end

  def json(response) = JSON.parse(response.body)

  # The Rack 3 rules Rack 2.2's Lint does not check.
  def assert_rack3(response)
    assert_kind_of Integer, response.status
    response.headers.each do |k, v|
      # Rack 2.2's MockResponse buffers the body and sets "Content-Length"
      # itself; the app's own headers are what must be lowercase.
      next if k == "Content-Length" && Gem::Version.new(Rack.release) < Gem::Version.new("3")

      assert_equal k.downcase, k, "header #{k} must be lowercase"
      assert_kind_of String, v
    end
  end

  def log_text = @log.string
end
