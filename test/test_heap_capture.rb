# frozen_string_literal: true

require_relative "test_helper"
require_relative "fixtures/heap/support"
require "memwatch/cli"
require "stringio"

# The guided workflow end to end: a real Puma app leaking on a known line, memwatch's
# endpoint mounted with dumps and tracing allowed, and `memwatch heap capture` taking the
# three dumps through it and naming the line.
class TestHeapCapture < Minitest::Test
  include HeapTestSupport

  TOKEN = "capture-test-token-0123456789"

  CONFIG_RU = <<~'RUBY'
    require "memwatch"
    require "memwatch/app"
    $leak = []
    leak = ->(_env) { 50.times { |i| $leak << "leaked-by-request-#{i}" * 8 }; [200, { "content-type" => "text/plain" }, ["ok"]] } # LEAK
    map("/ping") { run ->(_env) { [200, { "content-type" => "text/plain" }, ["ok"]] } }
    map("/leak") { run leak }
    map("/memwatch") { run Memwatch::App.new(token: ENV.fetch("TEST_TOKEN"), dumps: true, tracing: true, dump_cooldown: 0) }
  RUBY

  def test_capture_names_the_leaking_line
    Dir.mktmpdir("memwatch-capture") do |dir|
      dir = ENV["KEEP_DIR"] if ENV["KEEP_DIR"]
      with_puma(dir, CONFIG_RU, env: { "TEST_TOKEN" => TOKEN }) do |base|
        load = Thread.new { drive(base, Process.clock_gettime(Process::CLOCK_MONOTONIC) + 60) }
        out, err, code = cli("heap", "capture", "#{base}/memwatch", "-o", File.join(dir, "dumps"), "--every", "2", "--top", "3")
        load.kill
        assert_equal 0, code, err
        assert_includes err, "allocation tracing on"
        %w[a b c].each { |n| assert_equal 0o600, File.stat(File.join(dir, "dumps", "#{n}.json.gz")).mode & 0o777 }
        first = out.lines.find { |l| l =~ /\A\s+[\d,]+\s+\S+ \S+\s+\S+:\d+/ }
        assert_includes first, "#{File.join(dir, "config.ru")}:4", out
        $stderr.puts out, err if ENV["MEMWATCH_TEST_VERBOSE"]
      end
    end
  end

  private

  def drive(base, deadline)
    uri = URI("#{base}/leak")
    Net::HTTP.start(uri.host, uri.port, read_timeout: 30) do |http|
      while Process.clock_gettime(Process::CLOCK_MONOTONIC) < deadline
        http.get(uri.path)
        sleep 0.05
      end
    end
  rescue StandardError
    nil
  end

  def cli(*argv)
    out = StringIO.new
    err = StringIO.new
    old = ENV["MEMWATCH_TOKEN"]
    ENV["MEMWATCH_TOKEN"] = TOKEN
    code = Memwatch::CLI.run(argv, out: out, err: err)
    [out.string, err.string, code]
  ensure
    ENV["MEMWATCH_TOKEN"] = old
  end
end
