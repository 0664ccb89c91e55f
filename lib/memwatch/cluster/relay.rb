# frozen_string_literal: true

require "securerandom"
require "uri"
require_relative "relay_body"

module Memwatch
  module Cluster
    # Hands an action (GC, purge, heap dump, tracing) to another worker through the
    # shared directory, and streams that worker's answer back. The kernel picks which
    # worker gets a request, so this is how POST /cluster/heap_dump?worker=1 reaches
    # worker 1 wherever it lands. In the target's relay inbox (relay/<label>-<pid>/):
    #   <id>.fifo  a named pipe the requester opens first: the answer's body flows here
    #   <id>.req   the request (path, query, the requester's endpoint limits)
    #   <id>.ack   the target picked it up (it polls on memwatch's periodic tick)
    #   <id>.head  the answer's status and headers
    # The directory is private to the app's user, so a request there comes from the app
    # itself; the requester already checked the client's access and the feature flags.
    module Relay
      POLL = 0.05
      PICKUP_MIN = 10.0 # seconds the target gets to notice a request (it polls every publish)
      ANSWER = 60.0     # seconds to answer, after pickup (heap dumps: dump_timeout more)

      module_function

      # call-seq:
      #   Relay.forward(ctx, target, path, query) -> [status, headers, body]  (raises Refused)
      #
      # +target+: the target's state (from Cluster.view); +query+: a Hash of the action's
      # parameters.
      def forward(ctx, target, path, query)
        dir = Cluster.directory or raise Endpoint::Refused.new(503, "no cluster directory: this process runs alone")
        box = dir.relay_box(target["label"], target["pid"], create: true)
        id = SecureRandom.hex(8)
        files = %w[req ack head fifo].to_h { |ext| [ext, File.join(box, "#{id}.#{ext}")] }
        reader = open_pipe(files["fifo"])
        begin
          dir.write_json(files["req"], request(ctx, id, path, query, target))
          head = await(files, target, ctx.config)
          ctx.audit.merge!(worker: target["worker"], target_pid: target["pid"], status: head["status"])
          [head["status"], answer_headers(head, target), RelayBody.new(reader) { cleanup(files) }]
        rescue StandardError
          reader.close
          cleanup(files)
          raise
        end
      end

      def open_pipe(path)
        File.mkfifo(path, 0o600)
        File.open(path, File::RDONLY | File::NONBLOCK) # no writer needed yet
      end

      def request(ctx, id, path, query, target)
        c = ctx.config
        { "id" => id, "path" => path, "query" => URI.encode_www_form(query.map { |k, v| [k, plain(v)] }),
          "from_pid" => Process.pid, "created" => Time.now.to_f,
          "deadline" => Time.now.to_f + pickup_seconds(target),
          "config" => { "dumps" => c.dumps?, "tracing" => c.tracing?, "dump_dir" => c.dump_dir,
                        "dump_max_bytes" => c.dump_max_bytes, "dump_timeout" => c.dump_timeout,
                        "dump_cooldown" => c.dump_cooldown, "tracing_max_seconds" => c.tracing_max_seconds } }
      end

      def plain(value) = value == true ? "1" : (value == false ? "0" : value.to_s)

      def pickup_seconds(target)
        [PICKUP_MIN, 3 * target["publish_every"].to_f].max
      end

      # Waits for the pickup, then for the answer's head.
      def await(files, target, config)
        who = "worker #{target["worker"]} (pid #{target["pid"]})"
        unless wait_for(files["ack"], pickup_seconds(target))
          raise Endpoint::Refused.new(504, "#{who} did not pick up the request within #{pickup_seconds(target).round} s")
        end
        limit = ANSWER + config.dump_timeout
        wait_for(files["head"], limit) or raise Endpoint::Refused.new(504, "#{who} did not answer within #{limit.round} s")
        Cluster.directory.read(files["head"]) or raise Endpoint::Refused.new(502, "#{who} sent an unreadable answer")
      end

      def wait_for(path, seconds)
        deadline = Process.clock_gettime(Process::CLOCK_MONOTONIC) + seconds
        until File.exist?(path)
          return false if Process.clock_gettime(Process::CLOCK_MONOTONIC) > deadline

          sleep POLL
        end
        true
      end

      # Which worker answered is said in the headers (and x-memwatch-pid is the target's).
      def answer_headers(head, target)
        headers = head["headers"].is_a?(Hash) ? head["headers"].transform_values(&:to_s) : {}
        headers.merge("x-memwatch-worker" => target["worker"].to_s, "x-memwatch-relayed-by" => Process.pid.to_s)
      end

      def cleanup(files)
        files.each_value do |path|
          File.unlink(path)
        rescue SystemCallError
          nil
        end
      end
    end
  end
end
