# frozen_string_literal: true

require "digest"
require "fileutils"
require "json"
require "net/http"
require "open3"
require "rbconfig"
require "timeout"
require "tmpdir"

module LeakLab
  ROOT = __dir__
  JEMALLOC = "/usr/lib/x86_64-linux-gnu/libjemalloc.so.2"

  # Builds test/scenarios/ext/leaklab once per source version into a scratch
  # directory (never into the repo) and returns that directory.
  def self.build_ext
    src = File.join(ROOT, "ext", "leaklab")
    files = Dir[File.join(src, "*")].sort
    digest = Digest::SHA256.hexdigest(files.map { |f| File.read(f) }.join + RUBY_DESCRIPTION)[0, 12]
    dir = File.join(Dir.tmpdir, "memwatch-leaklab-#{digest}")
    return dir if File.exist?(File.join(dir, "leaklab.so"))

    build = "#{dir}.#{Process.pid}.#{rand(1 << 32)}"
    FileUtils.mkdir_p(build)
    FileUtils.cp(files, build)
    out, status = Open3.capture2e("#{RbConfig.ruby} extconf.rb && make", chdir: build)
    raise "building the leaklab helper failed:\n#{out}" unless status.success?

    File.rename(build, dir) unless File.exist?(dir) # another process may have won
    FileUtils.rm_rf(build)
    dir
  end

  # Waits for +pid+ up to +seconds+; returns its Process::Status or nil.
  def self.wait_pid(pid, seconds)
    deadline = Process.clock_gettime(Process::CLOCK_MONOTONIC) + seconds
    loop do
      _, status = Process.wait2(pid, Process::WNOHANG)
      return status if status
      return nil if Process.clock_gettime(Process::CLOCK_MONOTONIC) > deadline

      sleep 0.1
    end
  rescue Errno::ECHILD
    nil
  end

  # A real Puma serving test/scenarios/config.ru on 127.0.0.1 and a kernel-chosen
  # port, in its own process group so that stop can reap the workers too.
  class Server
    attr_reader :port, :pid, :log, :worker_pids

    # call-seq: Server.new(dir, env: {}, workers: 0, threads: 4)
    def initialize(dir, env: {}, workers: 0, threads: 4)
      @dir, @env, @workers, @threads = dir, env, workers, threads
      @log = File.join(dir, "puma.log")
      @worker_pids = []
    end

    # call-seq: start(timeout: 60) -> self
    def start(timeout: 60)
      args = ["-b", "tcp://127.0.0.1:0", "-t", "#{@threads}:#{@threads}", "-e", "production"]
      args += ["-w", @workers.to_s] if @workers.positive?
      @pid = Process.spawn(@env.merge(pin_env), *command, *args, File.join(ROOT, "config.ru"),
                           chdir: ROOT, out: @log, err: @log, pgroup: true)
      wait_booted(timeout)
      self
    rescue StandardError
      stop
      raise
    end

    # call-seq: stop -> Process::Status or nil
    #
    # TERM to the master (Puma stops its workers), then KILL to the group.
    def stop
      return unless @pid

      signal("TERM", @pid)
      status = LeakLab.wait_pid(@pid, 20)
      signal("KILL", -@pid)
      status || LeakLab.wait_pid(@pid, 5)
    ensure
      @pid = nil
    end

    def url(path = "/")
      "http://127.0.0.1:#{@port}#{path}"
    end

    def log_text
      File.exist?(@log) ? File.read(@log) : ""
    end

    private

    # Puma as the suite has it (under `bundle exec`, the bundle's), unless
    # LAB_PUMA pins a version (e.g. 5.6.5, Debian's) from the installed gems,
    # outside the bundle; Rack is then held below 3 for Puma 5.
    def pin_env
      ENV["LAB_PUMA"].to_s.empty? ? {} : { "RUBYOPT" => nil, "BUNDLE_GEMFILE" => nil, "BUNDLER_SETUP" => nil }
    end

    def command
      pin = ENV["LAB_PUMA"].to_s
      code = "load Gem.bin_path('puma', 'puma')"
      unless pin.empty?
        rack = Gem::Version.new(pin) < Gem::Version.new("6") ? "gem 'rack', '< 3'; " : ""
        code = "gem 'puma', #{pin.dump}; #{rack}load Gem.bin_path('puma', 'puma', #{pin.dump})"
      end
      [RbConfig.ruby, "-e", code, "--"]
    end

    def wait_booted(timeout)
      deadline = Process.clock_gettime(Process::CLOCK_MONOTONIC) + timeout
      until booted?
        raise "puma exited during boot:\n#{log_text}" if LeakLab.wait_pid(@pid, 0)
        raise "puma did not boot in #{timeout}s:\n#{log_text}" if Process.clock_gettime(Process::CLOCK_MONOTONIC) > deadline

        sleep 0.2
      end
    end

    def booted?
      text = log_text
      @port = text[%r{Listening on http://127\.0\.0\.1:(\d+)}, 1]&.to_i
      @worker_pids = text.scan(/Worker \d+ \(PID: (\d+)\) booted/).flatten.map(&:to_i).uniq
      @port && @worker_pids.size >= @workers && ping
    end

    def ping
      Net::HTTP.get_response(URI(url("/ping"))).code == "200"
    rescue StandardError
      false
    end

    def signal(sig, pid)
      Process.kill(sig, pid)
    rescue Errno::ESRCH, Errno::EPERM
      nil
    end
  end
end
