# frozen_string_literal: true

require "logger"
require "securerandom"

module Memwatch
  module Cluster
    # The target's side of Relay: on each memwatch periodic tick, pick up the requests in
    # this process's inbox and run each on a thread of its own (a heap dump waits for its
    # child; the memwatch-gc thread must not). The action is the endpoint's own route
    # handler, run with the requester's limits; its answer goes back through the pipe.
    module RelayServer
      MAX_THREADS = 4
      REQUEST = /\A(\h{16})\.req\z/.freeze

      @threads = []

      class << self
        # call-seq:
        #   RelayServer.poll(directory, identity) -> Integer (requests taken)
        def poll(directory, identity)
          box = directory.relay_box(identity.label, Process.pid)
          return 0 unless File.directory?(box)

          @threads = @threads.select(&:alive?)
          Dir.children(box).sum { |name| take(directory, box, name) ? 1 : 0 }
        end

        private

        def take(directory, box, name)
          id = REQUEST.match(name)&.[](1) or return false
          base = File.join(box, id)
          return false if File.exist?("#{base}.ack") || @threads.size >= MAX_THREADS

          req = directory.read("#{base}.req")
          return expire(base) if req.nil? || req["deadline"].to_f < Time.now.to_f

          File.write("#{base}.ack", "", perm: 0o600)
          @threads << Thread.new(directory, base, req) { |d, b, r| serve(d, b, r) }
          true
        end

        # A request nobody waits for any more (the requester timed out or died).
        def expire(base)
          %w[req fifo].each { |ext| File.unlink("#{base}.#{ext}") if File.exist?("#{base}.#{ext}") }
          false
        rescue SystemCallError
          false
        end

        def serve(directory, base, req)
          Thread.current.name = "memwatch-relay"
          config = endpoint_config(req["config"] || {})
          triple = run(req, config)
          config.logger.info("memwatch cluster: pid #{Process.pid} ran POST #{req["path"]} " \
                             "for pid #{req["from_pid"].to_i} -> #{triple[0]}")
          answer(directory, base, triple)
        rescue StandardError => e
          warn "memwatch cluster: a relayed request failed: #{e.class}: #{e.message}"
        end

        def run(req, config)
          route = Endpoint.routes.dig(req["path"].to_s, "POST")
          raise Endpoint::Refused.new(404, "no action #{req["path"].to_s[0, 64].inspect}") unless route
          if route.feature && !config.public_send(:"#{route.feature}?")
            raise Endpoint::Refused.new(403, "#{route.feature} is off in the endpoint that took the request")
          end

          request = Endpoint::Request.new("REQUEST_METHOD" => "POST", "PATH_INFO" => route.path,
                                          "QUERY_STRING" => req["query"].to_s, "SCRIPT_NAME" => "")
          ctx = Endpoint::Context.new(request, request.params(route.params), config, Endpoint::State.new(config), {})
          route.handler.call(ctx)
        rescue Endpoint::Refused => e
          Endpoint::Response.error(e.status, e.message, e.headers)
        rescue StandardError => e
          Endpoint::Response.error(500, "the action failed in pid #{Process.pid}: #{e.class}: #{e.message}"[0, 300])
        end

        # Open the pipe first (the requester holds its read end), then publish the head:
        # once the requester sees the head, a writer is attached and EOF means "done".
        def answer(directory, base, (status, headers, body))
          pipe = File.open("#{base}.fifo", File::WRONLY | File::NONBLOCK)
          directory.write_json("#{base}.head", { "status" => status, "headers" => headers })
          body.each { |chunk| pipe.write(chunk) }
        rescue Errno::ENXIO, Errno::ENOENT, Errno::EPIPE
          nil # the requester is gone: stop
        ensure
          body.close if body.respond_to?(:close)
          pipe&.close
        end

        # The requester's endpoint limits. The token only satisfies EndpointConfig's rule
        # that dumps need one: access was checked by the requester, never here.
        def endpoint_config(c)
          EndpointConfig.new(
            token_env: nil, token: SecureRandom.hex(24), dumps: c["dumps"] == true, tracing: c["tracing"] == true,
            dump_dir: c["dump_dir"], dump_max_bytes: c["dump_max_bytes"] || EndpointConfig::DEFAULTS[:dump_max_bytes],
            dump_timeout: c["dump_timeout"] || EndpointConfig::DEFAULTS[:dump_timeout],
            dump_cooldown: c["dump_cooldown"] || EndpointConfig::DEFAULTS[:dump_cooldown],
            tracing_max_seconds: c["tracing_max_seconds"] || EndpointConfig::DEFAULTS[:tracing_max_seconds],
            logger: Logger.new($stderr)
          )
        end
      end
    end
  end
end
