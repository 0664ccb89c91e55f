# frozen_string_literal: true

require "rbconfig"
require "socket"
require "net/http"
require "timeout"

# A real Puma serving a rackup file on 127.0.0.1 and a free port, in its own process
# group so stop reaps cluster workers too. Used by the benchmarks and by
# test/test_attribution_puma.rb; every process it starts is stopped by pid.
class PumaRunner
  attr_reader :port, :pid, :log

  # call-seq: PumaRunner.puma_bin -> path of the puma executable RubyGems resolves
  def self.puma_bin
    Gem.bin_path("puma", "puma")
  rescue Gem::Exception
    "/usr/bin/puma"
  end

  def self.puma_version
    out = IO.popen([RbConfig.ruby, puma_bin, "--version"], err: File::NULL, &:read)
    out[/\d+\.\d+\.\d+/] || "unknown"
  end

  def initialize(rackup, log:, env: {}, threads: 4, workers: 0, preload: false)
    @rackup, @log, @env, @threads, @workers, @preload = rackup, log, env, threads, workers, preload
  end

  # call-seq: runner.start(timeout: 60) -> self
  def start(timeout: 60)
    @port = free_port
    args = ["-b", "tcp://127.0.0.1:#{@port}", "-t", "#{@threads}:#{@threads}", "-e", "production"]
    args += ["-w", @workers.to_s] if @workers.positive?
    args << "--preload" if @preload
    @pid = Process.spawn(@env, RbConfig.ruby, self.class.puma_bin, *args, @rackup,
                         chdir: File.dirname(@rackup), out: @log, err: @log, pgroup: true)
    wait_ready(timeout)
    self
  rescue StandardError
    stop
    raise
  end

  def url(path = "/") = "http://127.0.0.1:#{@port}#{path}"

  # call-seq: runner.get(path) -> Net::HTTPResponse
  def get(path, timeout: 30)
    Net::HTTP.start("127.0.0.1", @port, open_timeout: timeout, read_timeout: timeout) { |h| h.get(path) }
  end

  # TERM to the group, then KILL whatever is left after +grace+ seconds.
  def stop(grace: 10)
    return unless @pid

    signal("TERM")
    status = wait(grace)
    unless status
      signal("KILL")
      status = wait(5)
    end
    @pid = nil
    status
  end

  # Pids of the server's processes (master and workers), from /proc.
  def pids
    return [] unless @pid

    Dir["/proc/[0-9]*/stat"].filter_map do |f|
      fields = File.read(f).split(") ").last.split
      Integer(f[%r{\d+}]) if Integer(fields[2]) == @pid # field 5: pgrp
    rescue SystemCallError, ArgumentError
      nil
    end
  end

  private

  def free_port
    s = TCPServer.new("127.0.0.1", 0)
    s.addr[1]
  ensure
    s&.close
  end

  def wait_ready(timeout)
    deadline = Process.clock_gettime(Process::CLOCK_MONOTONIC) + timeout
    loop do
      raise "puma exited early; see #{@log}" if Process.wait(@pid, Process::WNOHANG)
      return if (get("/", timeout: 2) rescue nil)
      raise "puma did not answer within #{timeout}s; see #{@log}" if Process.clock_gettime(Process::CLOCK_MONOTONIC) > deadline

      sleep 0.1
    end
  end

  def signal(sig)
    Process.kill(sig, -@pid)
  rescue Errno::ESRCH, Errno::EPERM
    nil
  end

  def wait(seconds)
    Timeout.timeout(seconds) { Process.wait2(@pid)[1] }
  rescue Timeout::Error
    nil
  rescue Errno::ECHILD
    true
  end
end
