# frozen_string_literal: true

require_relative "test_helper"
require "socket"
require "zlib"
require "net/http"
require_relative "fixtures/logs/cli_support"
require "memwatch/log_reader"

# status, samples, dump and watch against a real Puma serving the real Memwatch::App, plus
# the network failures: refused, timeout, bad URL.
class TestCLIClient < Minitest::Test
  include CliSupport
  TOKEN = "cli-test-token-0123456789abcdef"

  # One Puma for the whole class: it takes seconds to boot.
  class Server
    attr_reader :port, :pid, :dir

    def initialize
      @dir = Dir.mktmpdir("memwatch-cli-puma")
      File.write(File.join(@dir, "token"), TOKEN)
      File.write(File.join(@dir, "config.ru"), config_ru)
      @log = File.join(@dir, "puma.log")
      @pid = Process.spawn("puma", "-b", "tcp://127.0.0.1:0", "-t", "2:4", "config.ru", chdir: @dir,
                                                                                      out: @log, err: @log)
      @port = wait_for_port
      wait_for_samples(10)
    end

    # The sampler needs a moment (10 ticks of 0.1 s) before --limit tests have rows to count.
    def wait_for_samples(n)
      deadline = Time.now + 20
      until Time.now > deadline
        body = Net::HTTP.get(URI(url("/open/samples?limit=#{n}")))
        return if JSON.parse(body)["rows"].to_a.size >= n

        sleep 0.2
      end
      raise "the app has fewer than #{n} samples after 20 s"
    end

    def config_ru
      <<~RU
        $LOAD_PATH.unshift #{CliSupport::LIB.inspect}
        require "memwatch"
        require "memwatch/app"
        Memwatch.start(interval: 0.1)
        dump_dir = #{File.join(@dir, 'dumps').inspect}
        map("/memwatch") { run Memwatch::App.new(token: #{TOKEN.inspect}, dumps: true, dump_cooldown: 60, dump_dir: dump_dir) }
        map("/nodump") { run Memwatch::App.new(token: #{TOKEN.inspect}) }
        map("/open") { run Memwatch::App.new }
        run ->(_env) { [404, { "content-type" => "text/plain" }, ["not here"]] }
      RU
    end

    def wait_for_port
      deadline = Time.now + 30
      until Time.now > deadline
        port = File.read(@log)[%r{Listening on http://127\.0\.0\.1:(\d+)}, 1] if File.exist?(@log)
        return port.to_i if port

        sleep 0.1
      end
      raise "puma did not start:\n#{File.read(@log)}"
    end

    def url(path) = "http://127.0.0.1:#{@port}#{path}"

    def stop
      Process.kill("TERM", @pid)
      Timeout.timeout(15) { Process.wait(@pid) }
    rescue Timeout::Error
      Process.kill("KILL", @pid)
      Process.wait(@pid)
    rescue Errno::ESRCH, Errno::ECHILD
      nil
    ensure
      FileUtils.rm_rf(@dir)
    end
  end

  def self.server
    @server ||= Server.new.tap { |s| Minitest.after_run { s.stop } }
  end

  def setup
    skip "native extension not built (rake compile)" unless native_built?
    skip "puma not installed" unless system("which puma > /dev/null 2>&1")
    @server = self.class.server
    @tmp = Dir.mktmpdir
    @token_file = File.join(@server.dir, "token")
  end

  def teardown
    FileUtils.rm_rf(@tmp) if @tmp
  end

  def test_status_json_and_text
    code, out, err = cli("status", "--json", @server.url("/open"))
    doc = JSON.parse(out)
    assert_equal @server.pid, doc.dig("memwatch", "pid")
    assert doc.dig("memwatch", "running")
    assert_includes [0, 1, 3], code, err
    assert_equal(doc["verdict"].nil? ? 3 : code, code)
    code, out, = cli("status", @server.url("/open/"))
    assert_includes [0, 1, 3], code
    assert_match(/\Apid #{@server.pid}  ruby #{RUBY_VERSION}/, out)
    assert_match(/^RSS\s+\d+\.\d MiB$/, out)
    assert_match(/^verdict: /, out)
  end

  def test_tokens
    code, _, err = exe("status", @server.url("/memwatch"), env: { "MEMWATCH_TOKEN" => nil })
    assert_equal 2, code
    assert_one_error_line(err, %r{/memwatch/status: 401 unauthorized: set MEMWATCH_TOKEN to the endpoint token$})
    code, _, err = exe("status", @server.url("/memwatch"), env: { "MEMWATCH_TOKEN" => "wrong-token-0123456789" })
    assert_equal 2, code
    assert_one_error_line(err, /401 unauthorized: the token in MEMWATCH_TOKEN was rejected/)
    code, out, = exe("status", "--json", @server.url("/memwatch"), env: { "MEMWATCH_TOKEN" => TOKEN })
    refute_equal 2, code
    assert_equal @server.pid, JSON.parse(out).dig("memwatch", "pid")
    assert_equal code, cli("status", "--token-file", @token_file, @server.url("/memwatch"))[0]
    code, _, err = cli("status", "--token-file", File.join(@tmp, "missing"), @server.url("/memwatch"))
    assert_equal 2, code
    assert_one_error_line(err, /missing: cannot read token/)
  end

  def test_samples_tsv_is_a_memwatch_log
    code, out, err = cli("samples", "--limit", "5", @server.url("/open"))
    assert_equal 0, code, err
    path = File.join(@tmp, "app.tsv")
    File.write(path, out)
    rows = Memwatch::LogReader.read(path)
    assert_equal 5, rows.size
    assert(rows.all? { |r| r[:type] == "sample" && r[:rss_bytes].positive? })
    assert_equal @server.pid, Memwatch::LogReader.new(path).metadata[:pid]
    code, out, = cli("samples", "--json", "--since", "1m", @server.url("/open"))
    assert_equal 0, code
    doc = JSON.parse(out)
    assert_equal %w[type tick], doc["columns"].first(2)
    refute_empty doc["rows"]
    assert_equal 2, cli("samples", "--since", "yesterday", @server.url("/open"))[0]
  end

  def test_dump_streams_to_a_private_file_then_429
    path = File.join(@tmp, "heap.ndjson.gz")
    code, out, err = cli("dump", "--token-file", @token_file, @server.url("/memwatch"), "-o", path)
    assert_equal 0, code, err
    assert_match(/wrote #{Regexp.escape(path)} \(.+\); it holds every string of the process, secrets included/, out)
    assert_equal 0o600, File.stat(path).mode & 0o777
    first = Zlib::GzipReader.open(path, &:gets)
    assert_kind_of Hash, JSON.parse(first)
    refute File.exist?("#{path}.part")
    again = File.join(@tmp, "again.ndjson")
    code, _, err = cli("dump", "--token-file", @token_file, @server.url("/memwatch"), "-o", again)
    assert_equal 2, code
    assert_one_error_line(err, %r{/memwatch/heap_dump: 429 busy: .*; retry after \d+s$})
    refute File.exist?(again)
    refute File.exist?("#{again}.part")
  end

  def test_dump_refused_when_disabled_and_needs_output
    code, _, err = cli("dump", "--token-file", @token_file, @server.url("/nodump"), "-o", File.join(@tmp, "x"))
    assert_equal 2, code
    assert_one_error_line(err, /403 forbidden: heap dumps are disabled/)
    code, _, err = cli("dump", @server.url("/memwatch"))
    assert_equal 2, code
    assert_one_error_line(err, /dump: missing -o FILE/)
  end

  def test_not_mounted_is_404
    code, _, err = cli("status", @server.url("/elsewhere"))
    assert_equal 2, code
    assert_one_error_line(err, %r{/elsewhere/status: 404 not found: is memwatch mounted at http://127\.0\.0\.1:\d+/elsewhere\?})
  end

  def test_watch_prints_a_line_per_refresh_when_not_a_terminal
    code, out, err = cli("watch", "--count", "2", "--interval", "0.2", @server.url("/open"))
    assert_equal 0, code, err
    lines = out.lines
    assert_equal 2, lines.size
    assert(lines.all? { |l| l.match?(/\A\d\d:\d\d:\d\d rss=\d+\.\d MiB ruby_heap=\S+ \S+ verdict=\w+\n\z/) }, out)
  end

  def test_connection_refused
    port = TCPServer.open("127.0.0.1", 0) { |s| s.addr[1] } # closed again: nothing listens
    %w[status samples watch].each do |cmd|
      code, out, err = cli(cmd, "http://127.0.0.1:#{port}/memwatch")
      assert_equal 2, code, cmd
      assert_empty out, cmd
      assert_one_error_line(err, %r{http://127\.0\.0\.1:#{port}/memwatch/\S+: connection refused \(is the app running})
    end
    code, _, err = cli("dump", "http://127.0.0.1:#{port}/memwatch", "-o", File.join(@tmp, "d"))
    assert_equal 2, code
    assert_one_error_line(err, /connection refused/)
  end

  # A socket that accepts and never answers: the client gives up after --timeout.
  def test_timeout
    server = TCPServer.new("127.0.0.1", 0)
    port = server.addr[1]
    code, _, err = cli("status", "--timeout", "0.5", "http://127.0.0.1:#{port}/memwatch")
    assert_equal 2, code
    assert_one_error_line(err, %r{/memwatch/status: no answer within 0\.5s \(--timeout\)})
  ensure
    server&.close
  end

  def test_bad_urls_and_arguments
    [%w[status ftp://example.com/memwatch], %w[status not-a-url], %w[samples]].each do |argv|
      code, _, err = cli(*argv)
      assert_equal 2, code, argv.inspect
      assert_one_error_line(err, /not an http\(s\) URL|missing URL/)
    end
    assert_equal 2, cli("status", "--timeout", "0", @server.url("/open"))[0]
    assert_equal 2, cli("status", @server.url("/open"), "extra")[0]
  end
end

# The live view on a terminal: the screen is cleared and redrawn with a sparkline.
class TestCLIWatchScreen < Minitest::Test
  include CliSupport

  class TTY < StringIO
    def tty? = true
  end

  def test_screen_redraws_with_figures_and_a_sparkline
    skip "native extension not built (rake compile)" unless native_built?
    skip "puma not installed" unless system("which puma > /dev/null 2>&1")

    server = TestCLIClient.server
    out = TTY.new
    err = StringIO.new
    code = Memwatch::CLI.run(["watch", "-n", "2", "-i", "0.3", server.url("/open")], out: out, err: err)
    assert_equal 0, code, err.string
    screens = out.string.split("\e[H\e[2J").reject(&:empty?)
    assert_equal 2, screens.size
    screen = screens.last
    assert_match(%r{\Amemwatch watch http://127\.0\.0\.1:\d+/open   \d\d:\d\d:\d\d   every 0\.3s, Ctrl-C to quit}, screen)
    assert_match(/^pid #{server.pid}  allocator \w+  sampler running$/, screen)
    assert_match(/^RSS\s+\d+\.\d MiB\s+[▁▂▃▄▅▆▇█]{2,}  \S+ MiB\.\.\S+ MiB$/, screen)
    assert_match(/^verdict: /, screen)
  end
end

# The download meter: redrawn in place on a terminal, silent otherwise.
class TestCLIDumpProgress < Minitest::Test
  class TTY < StringIO
    def tty? = true
  end

  def test_progress_on_a_terminal_only
    require "memwatch/cli/dump"
    tty = TTY.new
    meter = Memwatch::CLI::Dump::Progress.new(tty)
    meter.update(512 * 1024, 2 * 1024 * 1024)
    meter.finish
    assert_match(%r{\A\rdownloading  25% 512\.0 KiB of 2\.0 MiB \(\S+ \S+/s\)\e\[K\r\e\[K\z}, tty.string)
    plain = StringIO.new
    Memwatch::CLI::Dump::Progress.new(plain).tap { |m| m.update(1, 2) }.finish
    assert_empty plain.string
  end
end
