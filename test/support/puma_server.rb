# frozen_string_literal: true

require "fileutils"
require "net/http"
require "rbconfig"
require "tmpdir"

# A real Puma for integration tests, on 127.0.0.1 and a port the kernel picks.
#
#   PumaServer.run(rackup: "run ->(env) { [200, {}, ['hi']] }", workers: 2) do |server|
#     server.get("/").body            # => "hi"
#     server.url("/x")                # => "http://127.0.0.1:40123/x"
#   end                               # stopped: TERM, then KILL after a timeout
#
# Puma runs with this Ruby (so LD_PRELOAD and friends carry over) and memwatch's lib/
# on the load path, in its own process group so that stopping it also ends its workers
# and anything they started. Its output goes to #log_path; a boot failure raises with
# the log's tail. Nothing is left running: #stop is idempotent and waits for the exit.
class PumaServer
  class BootError < StandardError; end

  LIB = File.expand_path("../../lib", __dir__)
  LISTENING = %r{Listening on http://127\.0\.0\.1:(\d+)}.freeze

  attr_reader :port, :pid, :dir, :log_path

  # call-seq:
  #   PumaServer.run(**options) { |server| ... } -> block's value
  def self.run(**options)
    server = new(**options).start
    yield server
  ensure
    server&.stop
  end

  # +rackup+: config.ru source. +workers+: 0 for single mode. +config+: extra Puma DSL
  # lines (plugin :memwatch, preload_app!, ...). +env+: environment for the server.
  def initialize(rackup:, workers: 0, threads: [0, 4], config: "", env: {}, boot_timeout: 60, ready_path: "/")
    @rackup = rackup
    @workers = workers
    @threads = threads
    @config = config
    @env = env
    @boot_timeout = boot_timeout
    @ready_path = ready_path
  end

  # call-seq:
  #   server.start -> server   (raises BootError)
  def start
    @dir = Dir.mktmpdir("memwatch-puma-")
    @log_path = File.join(@dir, "puma.log")
    File.write(File.join(@dir, "config.ru"), @rackup)
    File.write(File.join(@dir, "puma.rb"), puma_config)
    File.write(File.join(@dir, "gems.rb"), gem_versions)
    @pid = Process.spawn(@env, RbConfig.ruby, "-I", LIB, "-r", File.join(@dir, "gems.rb"), puma_bin,
                         "-C", File.join(@dir, "puma.rb"),
                         chdir: @dir, out: @log_path, err: %i[child out], pgroup: true, in: File::NULL)
    wait_for_boot
    self
  rescue StandardError
    stop
    raise
  end

  def url(path = "/") = "http://127.0.0.1:#{@port}#{path}"

  # call-seq:
  #   server.get(path, headers = {}) -> Net::HTTPResponse
  def get(path, headers = {}) = request(Net::HTTP::Get.new(path, headers))

  def post(path, headers = {}) = request(Net::HTTP::Post.new(path, headers))

  def request(req, read_timeout: 60)
    Net::HTTP.start("127.0.0.1", @port, open_timeout: 5, read_timeout: read_timeout) { |http| http.request(req) }
  end

  def log = File.exist?(@log_path.to_s) ? File.read(@log_path) : ""

  def alive?
    return false unless @pid
    Process.waitpid(@pid, Process::WNOHANG).nil?
  rescue Errno::ECHILD
    false
  end

  # call-seq:
  #   server.stop(timeout: 15) -> nil
  #
  # TERM to Puma, KILL to its whole process group if it has not exited in time.
  def stop(timeout: 15)
    return unless @pid
    signal(:TERM, @pid)
    signal(:KILL, -@pid) unless reaped_within?(timeout)
    reaped_within?(5) || warn("PumaServer: #{@pid} did not exit")
    signal(:KILL, -@pid) # workers or children that outlived the master
    @pid = nil
    FileUtils.rm_rf(@dir) if @dir && !ENV["MEMWATCH_KEEP_PUMA_LOGS"]
    nil
  end

  private

  # MEMWATCH_PUMA_VERSION and MEMWATCH_RACK_VERSION pick among several installed versions
  # (e.g. Debian's Puma 5.6 and Rack 2.2) when not running under Bundler.
  def puma_bin = Gem.bin_path("puma", "puma", *[ENV["MEMWATCH_PUMA_VERSION"]].compact)

  def gem_versions
    { "puma" => ENV["MEMWATCH_PUMA_VERSION"], "rack" => ENV["MEMWATCH_RACK_VERSION"] }
      .filter_map { |name, version| "gem #{name.inspect}, #{version.inspect}\n" if version }.join
  end

  def puma_config
    <<~RUBY
      bind "tcp://127.0.0.1:0"
      workers #{Integer(@workers)}
      threads #{Integer(@threads[0])}, #{Integer(@threads[1])}
      environment "test"
      rackup #{File.join(@dir, "config.ru").inspect}
      #{"worker_timeout 60" if @workers.positive?}
      #{@config}
    RUBY
  end

  def wait_for_boot
    deadline = clock + @boot_timeout
    until (@port = log[LISTENING, 1]&.to_i)
      boot_error("did not report its port") if clock > deadline || !alive?
      sleep 0.05
    end
    until ready?
      boot_error("did not answer on #{url(@ready_path)}") if clock > deadline || !alive?
      sleep 0.05
    end
  end

  def ready?
    request(Net::HTTP::Get.new(@ready_path), read_timeout: 5)
    true
  rescue SystemCallError, IOError, Net::OpenTimeout, Net::ReadTimeout, EOFError
    false
  end

  def boot_error(what)
    raise BootError, "puma #{what} within #{@boot_timeout}s (alive: #{alive?}); log:\n#{log.lines.last(30).join}"
  end

  def reaped_within?(seconds)
    deadline = clock + seconds
    loop do
      return true if Process.waitpid(@pid, Process::WNOHANG)
      return false if clock > deadline
      sleep 0.05
    end
  rescue Errno::ECHILD
    true
  end

  def signal(sig, target)
    Process.kill(sig, target)
  rescue Errno::ESRCH, Errno::EPERM
    nil
  end

  def clock = Process.clock_gettime(Process::CLOCK_MONOTONIC)
end
