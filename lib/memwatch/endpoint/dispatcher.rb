# frozen_string_literal: true

module Memwatch
  module Endpoint
    # Serves one request: framing checks, access control, routing, parameters, the handler,
    # HEAD, the audit log. Nothing raised in here reaches the host app: every failure
    # becomes a JSON error answer.
    class Dispatcher
      DENIAL_LOG_LIMIT = 30 # lines per minute: a scan must not flood the host's log

      def initialize(config, state)
        @config = config
        @state = state
        @access = Access.new(config)
        @denials = [0.0, 0, 0] # window start, lines logged, lines suppressed
      end

      # call-seq:
      #   dispatcher.call(env) -> [status, headers, body]
      #
      # Access is checked before the request is framed, so a stranger learns nothing
      # from a refusal (413/414 and their reasons are for clients we serve).
      def call(env)
        denied = @access.check(env)
        return finish(env, deny(env, denied)) if denied
        finish(env, dispatch(Request.new(env)))
      rescue Refused => e
        finish(env, Response.error(e.status, e.message, e.headers))
      rescue StandardError, ScriptError, SystemStackError => e
        finish(env, internal_error(env, e))
      end

      private

      def dispatch(request)
        route = find(request)
        ctx = Context.new(request, nil, @config, @state)
        route.verb == "POST" ? audited(ctx) { execute(route, ctx) } : execute(route, ctx)
      end

      def execute(route, ctx)
        check_feature(route)
        ctx.params = ctx.request.params(route.params)
        route.handler.call(ctx)
      end

      # Every action is logged with its outcome, refusals and failures included.
      def audited(ctx)
        response = yield
        audit(ctx, response[0])
        response
      rescue Refused => e
        audit(ctx, e.status, e.message)
        raise
      rescue StandardError, ScriptError => e
        audit(ctx, 500, e.class.name)
        raise
      end

      def finish(env, response)
        env["REQUEST_METHOD"] == "HEAD" ? Response.strip_body(response) : response
      end

      def find(request)
        verbs = Endpoint.routes[request.path] or raise Refused.new(404, "no such route #{request.path[0, 64].inspect}")
        verb = request.head? ? "GET" : request.verb
        verbs[verb] || wrong_method(request, verbs)
      end

      def wrong_method(request, verbs)
        allowed = verbs.key?("GET") ? %w[GET HEAD] : []
        allowed << "POST" if verbs.key?("POST")
        hint = verbs.key?("POST") ? " (actions need POST)" : ""
        raise Refused.new(405, "#{request.verb[0, 16]} not allowed#{hint}", "allow" => allowed.join(", "))
      end

      def check_feature(route)
        case route.feature
        when nil then nil
        when :dumps
          raise Refused.new(403, "heap dumps are disabled (enable with dumps: true and a token)") unless @config.dumps?
        when :tracing
          raise Refused.new(403, "allocation tracing is disabled (enable with tracing: true and a token)") unless @config.tracing?
        else raise Refused.new(403, "#{route.feature} is disabled")
        end
      end

      def deny(env, denied)
        log_denial("denied #{who(env)} #{env["REQUEST_METHOD"].to_s[0, 16]} " \
                   "#{env["PATH_INFO"].to_s[0, 64].inspect} -> #{denied.status} (#{denied.reason})")
        response = if denied.status == 403
                     Response.error(403, denied.reason)
                   else
                     Response.error(401, "unauthorized", "www-authenticate" => 'Bearer realm="memwatch"')
                   end
        response[1].delete("x-memwatch-pid") # nothing about the process for strangers
        response
      end

      def log_denial(line)
        now = Process.clock_gettime(Process::CLOCK_MONOTONIC)
        start, logged, suppressed = @denials
        if now - start >= 60
          @config.logger.warn("memwatch endpoint: #{suppressed} more denials not logged") if suppressed.positive?
          start, logged, suppressed = now, 0, 0
        end
        if logged < DENIAL_LOG_LIMIT
          @config.logger.warn("memwatch endpoint: #{line}")
          logged += 1
        else
          suppressed += 1
        end
        @denials = [start, logged, suppressed]
      end

      def audit(ctx, status, reason = nil)
        details = ctx.audit.map { |k, v| "#{k}=#{v}" }
        details << "reason=#{reason.inspect}" if reason
        @config.logger.info("memwatch endpoint: #{who(ctx.request.env)} auth=#{@access.mode} " \
                            "POST #{ctx.request.path} -> #{status} #{details.join(" ")}".rstrip)
      end

      # Who asked: the peer address, plus any forwarding header (logged, never trusted).
      def who(env)
        fwd = Access::FORWARDING.filter_map { |h| env[h] && "#{h.sub("HTTP_", "").downcase}=#{env[h].to_s[0, 64].inspect}" }
        (["remote=#{env["REMOTE_ADDR"]}"] + fwd + ["pid=#{Process.pid}"]).join(" ")
      end

      def internal_error(env, error)
        where = error.backtrace&.first
        @config.logger.warn("memwatch endpoint: #{error.class}: #{error.message} at #{where} " \
                            "(#{env["REQUEST_METHOD"]} #{env["PATH_INFO"].to_s[0, 64].inspect})")
        Response.error(500, "internal error in the memwatch endpoint (logged)")
      rescue StandardError
        Response.error(500, "internal error in the memwatch endpoint")
      end
    end
  end
end
