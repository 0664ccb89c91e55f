# frozen_string_literal: true

module Memwatch
  class Attribution
    # Turns a Rack env into a route key: "Controller#action" when Rails routed the
    # request, Sinatra's route pattern when there is one, else the method and the path
    # with ids, UUIDs, hex digests and tokens replaced by placeholders. Query strings
    # are dropped. Read *after* the app ran, because routers fill the env as they go.
    module RouteKey
      METHODS = %w[GET HEAD POST PUT PATCH DELETE OPTIONS].freeze
      MAX_SEGMENTS = 8
      PLAIN = /\A[A-Za-z_.~-]{1,19}\z/.freeze # no digit, short: kept as is (the fast path)
      PLACEHOLDERS = [
        [/\A\d+\z/, ":id"],
        [/\A\h{8}-\h{4}-\h{4}-\h{4}-\h{12}\z/, ":uuid"],
        [/\A\h{12,}\z/, ":hex"],
        [/\A(?=[^\/]*\d)[\w.~-]{20,}\z/, ":token"],
        [/\A.{65,}\z/m, ":long"]
      ].freeze

      CACHE_SIZE = 4096
      @cache = {}
      @size = 0

      module_function

      # call-seq:
      #   RouteKey.call(env) -> String
      def call(env)
        rails(env) || sinatra(env) || path_key(env)
      end

      # The key when even RouteKey failed (say, a path with invalid bytes).
      def safe(env)
        call(env)
      rescue StandardError
        "#{METHODS.include?(env["REQUEST_METHOD"]) ? env["REQUEST_METHOD"] : "OTHER"} (unparsed path)"
      end

      # call-seq:
      #   RouteKey.path_key(env) -> "GET /users/:id/posts"
      #
      # Memoised per path (bounded; a full cache is dropped), so a busy static route
      # costs one Hash lookup.
      def path_key(env)
        method = env["REQUEST_METHOD"]
        path = env["SCRIPT_NAME"].to_s.empty? ? env["PATH_INFO"].to_s : "#{env["SCRIPT_NAME"]}#{env["PATH_INFO"]}"
        by_method = (@cache[method] ||= {}) if METHODS.include?(method)
        return by_method[path] || remember(by_method, path, "#{method} #{template(path)}".freeze) if by_method

        "OTHER #{template(path)}"
      end

      def remember(table, path, key)
        @cache = {} if (@size += 1) > CACHE_SIZE
        @size = 0 if @cache.empty?
        table[path.frozen? ? path : path.dup.freeze] = key
      end

      # "/users/42/posts/9f86d081884c7d65" -> "/users/:id/posts/:hex"
      def template(path)
        out = +""
        n = 0
        path.b.split("/") do |s|
          next if s.empty?
          break out << "/..." if (n += 1) > MAX_SEGMENTS

          out << "/" << (PLAIN.match?(s) ? s : placeholder(s))
        end
        out.empty? ? "/" : out.force_encoding(Encoding::UTF_8)
      end

      def placeholder(segment)
        PLACEHOLDERS.each { |re, name| return name if re.match?(segment) }
        segment.match?(/\A[\w.~:@!$&'()*+,;=-]*\z/) ? segment : ":segment"
      end

      def rails(env)
        params = env["action_dispatch.request.path_parameters"]
        return nil unless params.is_a?(Hash) && params[:controller] && params[:action]

        "#{params[:controller]}##{params[:action]}"
      end

      def sinatra(env)
        route = env["sinatra.route"]
        route.is_a?(String) && !route.empty? ? route : nil
      end
    end
  end
end
