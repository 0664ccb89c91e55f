# frozen_string_literal: true

# Benchmarks of the endpoint on a real Puma (rake bench:endpoint; not part of rake test):
#
# 1. status throughput: wrk against /memwatch/status and a hello-world route on the same
#    Puma, alternating rounds; the ratio of medians (goal: >= 0.8).
# 2. heap-dump stall: a worker holding HEAP_OBJECTS objects; a 1 ms ticker thread inside
#    the worker records its longest gap (time it could not run: the GVL stall) while
#    POST /heap_dump runs (fork + child), and while an in-process dump_all runs, for scale.
#
# Environment: ROUNDS (3), SECONDS (5), HEAP_OBJECTS (1_000_000), CONNECTIONS (8).

require_relative "../support/puma_server"
require "json"
require "open3"

module BenchEndpoint
  TOKEN = "bench-token-0123456789abcdef"
  RACKUP = <<~'RUBY'
    require "memwatch"
    require "objspace"
    Memwatch.start(interval: 1.0)
    $kept = Array.new(Integer(ENV.fetch("HEAP_OBJECTS"))) { |i| "obj-#{i}" }
    $gap = [0.0, 0.0] # longest gap, summed excess over 2 ms: time the ticker could not run
    Thread.new do
      last = Process.clock_gettime(Process::CLOCK_MONOTONIC)
      loop do
        sleep 0.001
        now = Process.clock_gettime(Process::CLOCK_MONOTONIC)
        d = now - last
        $gap = [[$gap[0], d].max, $gap[1] + (d > 0.002 ? d - 0.001 : 0)]
        last = now
      end
    end
    hello = ->(_env) { [200, { "content-type" => "text/plain" }, ["hello\n"]] }
    map("/hello") { run hello }
    map("/gap") do
      run lambda { |_env|
        g = $gap
        $gap = [0.0, 0.0]
        minflt = File.read("/proc/self/stat").split(") ").last.split[7].to_i # field 10
        stats = [GC.stat(:minor_gc_count), GC.stat(:major_gc_count), GC.stat(:time), minflt]
        [200, { "content-type" => "text/plain" }, [(g + stats).join(" ")]]
      }
    end
    map("/inprocess_dump") do
      run ->(_env) { File.open(File::NULL, "w") { |f| ObjectSpace.dump_all(output: f) }; hello.call(nil) }
    end
    map("/memwatch") do
      run Memwatch::App.new(token: ENV.fetch("TOKEN"), token_env: nil, dumps: true, dump_cooldown: 0)
    end
    map("/open") { run Memwatch::App.new(token_env: nil) }
  RUBY

  module_function

  def run
    rounds = Integer(ENV.fetch("ROUNDS", "3"))
    objects = ENV.fetch("HEAP_OBJECTS", "1000000")
    env = { "TOKEN" => TOKEN, "HEAP_OBJECTS" => objects }
    PumaServer.run(rackup: RACKUP, env: env, threads: [4, 4], boot_timeout: 120, ready_path: "/hello") do |server|
      throughput(server, rounds)
      stall(server, objects)
    end
  end

  def throughput(server, rounds)
    results = Hash.new { |h, k| h[k] = [] }
    rounds.times do
      %w[/hello /open/status].each { |path| results[path] << wrk(server.url(path)) }
    end
    med = results.transform_values { |v| v.sort[v.size / 2] }
    results.each { |path, v| puts format("%-14s req/s %s (median %.0f)", path, v.map(&:round).inspect, med[path]) }
    puts format("status / hello = %.2f (goal >= 0.80)", med["/open/status"] / med["/hello"])
  end

  def wrk(url)
    out, err, st = Open3.capture3("wrk", "-t2", "-c#{ENV.fetch("CONNECTIONS", "8")}", "-d#{ENV.fetch("SECONDS", "5")}s", url)
    raise "wrk failed: #{err}" unless st.success?
    out[/Requests\/sec:\s+([\d.]+)/, 1].to_f
  end

  def stall(server, objects)
    auth = { "Authorization" => "Bearer #{TOKEN}" }
    server.get("/gap")
    sleep 2
    report("idle, 2 s (the machine's own noise)", server)
    _, hello = while_probing(server) { sleep 3 }
    report("no dump, 3 s of GET /hello (serving's own GC)", server, hello)
    %w[gc=0 gc=0 gzip=1 gzip=1].each do |query|
      res, hello = while_probing(server) { server.post("/memwatch/heap_dump?#{query}", auth) }
      fork_ms = JSON.parse(res["x-memwatch-manifest"])["fork_ms"]
      report(format("POST /heap_dump?%s -> %d, %.0f MB, fork %.1f ms", query, res.code.to_i, res.body.bytesize / 1e6, fork_ms),
             server, hello)
    end
    _, hello = while_probing(server) { server.get("/inprocess_dump") }
    report("in-process ObjectSpace.dump_all, for comparison", server, hello)
    puts "(#{objects} extra objects in the worker)"
  end

  def report(what, server, hello = nil)
    longest, total, *stats = server.get("/gap").body.split.map(&:to_f)
    minor, major, gc_ms, minflt = stats.zip(@last_stats || stats).map { |a, b| (a - b).round }
    @last_stats = stats
    probe = hello ? format("; GET /hello meanwhile: %d requests, slowest %.1f ms", hello.size, hello.max.to_f * 1000) : ""
    puts format("%-56s worker stalled: longest %.1f ms, in all %.1f ms%s", what, longest * 1000, total * 1000, probe)
    puts format("%-56s   (GCs: %d minor, %d major, %d ms; %d minor page faults)", "", minor, major, gc_ms, minflt)
  end

  # Runs the block while another client keeps requesting /hello from the same worker;
  # returns the block's value and the /hello latencies.
  def while_probing(server)
    done = false
    latencies = []
    prober = Thread.new do
      until done
        begin
          Net::HTTP.start("127.0.0.1", server.port) do |http|
            until done
              t = Process.clock_gettime(Process::CLOCK_MONOTONIC)
              http.get("/hello")
              latencies << Process.clock_gettime(Process::CLOCK_MONOTONIC) - t
            end
          end
        rescue EOFError, SystemCallError, Net::ReadTimeout, Net::HTTPBadResponse
          next # Puma closes keep-alive connections now and then (and Puma 8 garbles one rarely): reconnect
        end
      end
    end
    sleep 0.05
    result = yield
    done = true
    prober.join
    [result, latencies]
  end
end

BenchEndpoint.run if $PROGRAM_NAME == __FILE__
