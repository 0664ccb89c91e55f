# frozen_string_literal: true

# The lab's load driver: a separate process that sends paced HTTP requests for a
# bounded time and prints a JSON summary. Pacing (not "as fast as possible")
# is what turns bytes per request into a known leak rate.
#
#   ruby test/scenarios/drive.rb --url http://127.0.0.1:PORT/native?kb=10 \
#        --rps 100 --duration 60 [--conns 8] [--reconnect 25]
#
# Exit status: 0 when at most 2% of requests failed, 1 otherwise, 2 on bad args.
require "json"
require "net/http"
require "optparse"
require "uri"

module LeakLab
  # Paced HTTP load with a hard deadline.
  class Driver
    # call-seq: Driver.new(url:, rps:, duration:, conns: 8, reconnect: 25)
    #
    # +reconnect+: requests per keep-alive connection; new connections spread
    # the load over Puma cluster workers, as a load balancer would.
    def initialize(url:, rps:, duration:, conns: 8, reconnect: 25)
      @uri = URI(url)
      raise ArgumentError, "url must be http://127.0.0.1:PORT/..." unless @uri.host == "127.0.0.1"
      raise ArgumentError, "rps must be in 1..2000" unless (1..2000).cover?(rps)
      raise ArgumentError, "duration must be in 1..7200 s" unless (1..7200).cover?(duration)

      @rps, @duration, @conns, @reconnect = rps, duration, conns, reconnect
      @counts = Hash.new(0)
      @lock = Mutex.new
    end

    # call-seq: run -> Hash
    def run
      t0 = now
      deadline = t0 + @duration
      Array.new(@conns) { |i| Thread.new { worker(t0 + i.fdiv(@rps), deadline) } }.each(&:join)
      summary(now - t0)
    end

    private

    def worker(first, deadline)
      step = @conns.fdiv(@rps)
      at = first
      http = nil
      served = 0
      while at < deadline
        wait_until(at)
        http, served = connect, 0 if http.nil? || served >= @reconnect
        code = request(http)
        record(code)
        served += 1
        http = nil unless code.match?(/\A\d+\z/) # broken connection: open a new one
        at = [at + step, now - 1.0].max # fall behind by at most 1 s, never burst more
      end
    ensure
      http&.finish if http&.started?
    end

    def request(http)
      http.request(Net::HTTP::Get.new(@uri.request_uri)).code
    rescue StandardError => e
      http.finish if http.started?
      e.class.name
    end

    def connect
      http = Net::HTTP.new(@uri.host, @uri.port)
      http.open_timeout = 5
      http.read_timeout = 15
      http.keep_alive_timeout = 30
      http.start
      http
    rescue StandardError
      Net::HTTP.new(@uri.host, @uri.port) # request will fail and be counted
    end

    def record(code)
      @lock.synchronize { @counts[code] += 1 }
    end

    def wait_until(at)
      delay = at - now
      sleep(delay) if delay.positive?
    end

    def now
      Process.clock_gettime(Process::CLOCK_MONOTONIC)
    end

    def summary(seconds)
      total = @counts.values.sum
      { url: @uri.to_s, seconds: seconds.round(2), requests: total, ok: @counts["200"],
        achieved_rps: (total / seconds).round(1), target_rps: @rps, results: @counts }
    end
  end
end

if $PROGRAM_NAME == __FILE__
  opts = { conns: 8, reconnect: 25 }
  begin
    OptionParser.new do |o|
      o.on("--url URL", String) { |v| opts[:url] = v }
      o.on("--rps N", Float) { |v| opts[:rps] = v }
      o.on("--duration S", Float) { |v| opts[:duration] = v }
      o.on("--conns N", Integer) { |v| opts[:conns] = v }
      o.on("--reconnect N", Integer) { |v| opts[:reconnect] = v }
    end.parse!(ARGV)
    %i[url rps duration].each { |k| raise ArgumentError, "--#{k} is required" unless opts[k] }
    summary = LeakLab::Driver.new(**opts).run
  rescue ArgumentError, OptionParser::ParseError => e
    warn "drive.rb: #{e.message}"
    exit 2
  end
  puts JSON.generate(summary)
  exit(summary[:ok].to_i >= summary[:requests] * 0.98 ? 0 : 1)
end
