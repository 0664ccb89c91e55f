# frozen_string_literal: true

require "json"
require "net/http"
require "rbconfig"
require "socket"
require "timeout"
require "tmpdir"
require "fileutils"

# Boots a real Puma (this directory's puma.rb and config.ru) on 127.0.0.1 with memwatch's
# plugin, in its own process group, and always takes it down again: SIGTERM to the
# master, then SIGKILL to the group if anything is left after a deadline.
#
# Puma version: the one the running Ruby resolves (`bundle exec` -> the Gemfile.lock's);
# outside Bundler, MEMWATCH_PUMA_VERSION=5.6.5 (and MEMWATCH_RACK_VERSION) pick installed
# versions, as test/support/puma_server.rb does.
class PumaHarness
  DIR = __dir__
  LIB = File.expand_path("../../../lib", __dir__)
  BOOT_TIMEOUT = 30
  STOP_TIMEOUT = 15

  attr_reader :port, :pid, :tmp, :log_dir, :cluster_dir, :output, :token

  def initialize(workers:, preload: true, token: nil, dumps: false, env: {})
    @workers = workers
    @preload = preload
    @token = token
    @dumps = dumps
    @extra_env = env
    @tmp = Dir.mktmpdir("memwatch-puma-")
    @log_dir = File.join(@tmp, "logs")
    @cluster_dir = File.join(@tmp, "cluster")
    @output = File.join(@tmp, "puma.out")
    FileUtils.mkdir_p(@log_dir)
  end

  def self.puma_version = version("MEMWATCH_PUMA_VERSION")

  def self.version(name)
    v = ENV[name].to_s
    v.empty? || defined?(Bundler) ? nil : v
  end

  # MEMWATCH_SKIP_E2E=1 (e.g. under valgrind) skips the tests that boot servers.
  def self.skip?(test)
    test.skip("MEMWATCH_SKIP_E2E is set") if ENV["MEMWATCH_SKIP_E2E"] == "1"
  end

  # Starts Puma and waits until the cluster view lists +expect+ live processes.
  def start(expect: @workers.positive? ? @workers + 1 : 1)
    @port = free_port
    @pid = Process.spawn(env, *command, chdir: DIR, pgroup: true, in: File::NULL, %i[out err] => [@output, "w"])
    wait_until("Puma to serve #{expect} processes", BOOT_TIMEOUT) { (cluster&.fetch("processes", [])&.size || 0) >= expect }
    self
  end

  def command
    puma = PumaHarness.puma_version
    rack = PumaHarness.version("MEMWATCH_RACK_VERSION")
    boot = [("gem 'rack', #{rack.inspect}" if rack), ("gem 'puma', #{puma.inspect}" if puma),
            "load Gem.bin_path('puma', 'puma', *#{[puma].compact.inspect})"].compact.join("; ")
    [RbConfig.ruby, "-I", LIB, "-e", boot, "--", "-C", File.join(DIR, "puma.rb")]
  end

  def env
    { "PORT" => @port.to_s, "WORKERS" => @workers.to_s, "PRELOAD" => @preload ? "1" : "0",
      "MEMWATCH_TEST_LOG_DIR" => @log_dir, "CLUSTER_DIR" => @cluster_dir,
      "MEMWATCH_TOKEN" => @token, "MEMWATCH_TEST_DUMPS" => @dumps ? "1" : nil,
      "RACK_ENV" => "test", "WEB_CONCURRENCY" => nil }.merge(@extra_env)
  end

  # Every pid of the group still running (master, workers, any stray child).
  def group_pids
    Dir.children("/proc").grep(/\A\d+\z/).map(&:to_i).select do |p|
      Process.getpgid(p) == @pid
    rescue Errno::ESRCH, Errno::EPERM
      false
    end
  end

  def stop
    return unless @pid

    signal(:TERM, @pid)
    unless wait_exit(STOP_TIMEOUT)
      signal(:KILL, -@pid)
      wait_exit(5)
    end
    deadline = monotonic + 5
    sleep 0.05 while group_pids.any? && monotonic < deadline
    signal(:KILL, -@pid) if group_pids.any?
    @pid = nil
  end

  def cleanup
    stop
  ensure
    FileUtils.rm_rf(@tmp)
  end

  # --- HTTP -------------------------------------------------------------------

  def get(path, headers = {}) = request(Net::HTTP::Get.new(path, auth.merge(headers)))

  def post(path, headers = {}) = request(Net::HTTP::Post.new(path, auth.merge(headers)))

  def cluster
    res = get("/memwatch/cluster")
    res.code == "200" ? JSON.parse(res.body) : nil
  rescue SystemCallError, Net::ReadTimeout, Net::OpenTimeout, EOFError, IOError
    nil
  end

  # A bounded load: at most +requests+ requests or +seconds+, whichever ends first.
  def load(requests: 300, seconds: 5)
    deadline = monotonic + seconds
    Net::HTTP.start("127.0.0.1", @port, open_timeout: 2, read_timeout: 5) do |http|
      requests.times do |i|
        break if monotonic > deadline

        http.request(Net::HTTP::Get.new("/app/#{i}"))
      end
    end
  end

  def wait_until(what, seconds)
    deadline = monotonic + seconds
    until (result = yield)
      raise "timed out after #{seconds}s waiting for #{what}; puma output:\n#{File.read(@output) rescue ""}" if monotonic > deadline

      sleep 0.1
    end
    result
  end

  def monotonic = Process.clock_gettime(Process::CLOCK_MONOTONIC)

  private

  def auth = @token ? { "Authorization" => "Bearer #{@token}" } : {}

  def request(req)
    Net::HTTP.start("127.0.0.1", @port, open_timeout: 2, read_timeout: 30) { |http| http.request(req) }
  end

  def free_port
    server = TCPServer.new("127.0.0.1", 0)
    server.addr[1]
  ensure
    server&.close
  end

  def signal(sig, pid)
    Process.kill(sig, pid)
  rescue Errno::ESRCH, Errno::EPERM
    nil
  end

  def wait_exit(seconds)
    Timeout.timeout(seconds) { Process.wait(@pid) }
    true
  rescue Timeout::Error
    false
  rescue Errno::ECHILD
    true
  end
end
