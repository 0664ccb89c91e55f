# frozen_string_literal: true

require "open3"
require "timeout"
require "json"
require "net/http"
require "uri"

# Debian's prometheus package for the metrics tests: promtool, and a private Prometheus
# server on 127.0.0.1 with its own config and storage in a temporary directory, stopped
# by pid.
module PrometheusHelper
  # call-seq:
  #   PrometheusHelper.promtool(text) -> [success, output]
  def self.promtool(text)
    out, status = Open3.capture2e("promtool", "check", "metrics", stdin_data: text)
    [status.success?, out]
  rescue Errno::ENOENT
    raise Minitest::Assertion, "promtool is missing: install Debian's prometheus package (it ships promtool)"
  end

  # A Prometheus server scraping +targets+ ({job => [host:port, metrics_path, token_file]})
  # every second.
  class Server
    attr_reader :port, :output

    def initialize(dir, targets)
      @dir = dir
      @config = File.join(dir, "prometheus.yml")
      @output = File.join(dir, "prometheus.out")
      File.write(@config, config(targets))
    end

    def check_config
      Open3.capture2e("promtool", "check", "config", @config)
    end

    def start(port)
      @port = port
      @pid = Process.spawn("prometheus", "--config.file=#{@config}", "--storage.tsdb.path=#{File.join(@dir, "tsdb")}",
                           "--web.listen-address=127.0.0.1:#{port}", "--log.level=warn",
                           in: File::NULL, %i[out err] => [@output, "w"], pgroup: true)
      self
    end

    def stop
      return unless @pid

      Process.kill(:TERM, @pid)
      Timeout.timeout(10) { Process.wait(@pid) }
    rescue Timeout::Error
      Process.kill(:KILL, @pid)
      Process.wait(@pid)
    rescue Errno::ESRCH, Errno::ECHILD
      nil
    ensure
      @pid = nil
    end

    def get(path, params = {})
      uri = URI("http://127.0.0.1:#{@port}#{path}")
      uri.query = URI.encode_www_form(params) unless params.empty?
      res = Net::HTTP.start(uri.host, uri.port, open_timeout: 2, read_timeout: 10) { |h| h.get(uri.request_uri) }
      [res.code, res.body]
    rescue SystemCallError, Net::OpenTimeout, Net::ReadTimeout, EOFError
      [nil, nil]
    end

    def ready? = get("/-/ready")[0] == "200"

    def targets
      code, body = get("/api/v1/targets", state: "active")
      code == "200" ? JSON.parse(body).dig("data", "activeTargets") : []
    end

    # call-seq:
    #   server.query(promql) -> Array of {"metric" => labels, "value" => [time, "value"]}
    def query(promql)
      code, body = get("/api/v1/query", query: promql)
      code == "200" ? JSON.parse(body).dig("data", "result") : []
    end

    private

    def config(targets)
      jobs = targets.map do |job, (target, path, token_file)|
        <<~YAML
          - job_name: #{job}
            metrics_path: #{path}
            authorization: { type: Bearer, credentials_file: #{token_file} }
            static_configs: [ { targets: ['#{target}'] } ]
        YAML
      end
      "global: { scrape_interval: 1s, evaluation_interval: 1s }\nscrape_configs:\n" +
        jobs.join.gsub(/^/, "  ")
    end
  end
end
