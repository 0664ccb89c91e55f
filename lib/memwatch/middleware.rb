# frozen_string_literal: true

require_relative "app"

module Memwatch
  # Serves Memwatch::App's routes under +path+ and passes every other request through
  # untouched. Same options as Memwatch::App.
  #
  #   use Memwatch::Middleware, path: "/memwatch", token_file: "/run/secrets/memwatch"
  class Middleware
    # call-seq:
    #   Memwatch::Middleware.new(app, path: "/memwatch", **options) -> middleware
    def initialize(app, path: "/memwatch", **options)
      unless path.is_a?(String) && path.match?(%r{\A(?:/[\w.~-]+)+\z})
        raise EndpointConfigError, "memwatch endpoint: path: must look like \"/memwatch\" (got #{path.inspect})"
      end
      @app = app
      @path = path
      @endpoint = App.new(**options)
    end

    # call-seq:
    #   middleware.call(env) -> [status, headers, body]
    def call(env)
      info = env["PATH_INFO"].to_s
      return @app.call(env) unless mine?(info)
      script_name = env["SCRIPT_NAME"]
      begin
        env["SCRIPT_NAME"] = "#{script_name}#{@path}"
        env["PATH_INFO"] = info[@path.size..]
        @endpoint.call(env)
      ensure # as Rack::URLMap does: the env is the caller's
        script_name.nil? ? env.delete("SCRIPT_NAME") : env["SCRIPT_NAME"] = script_name
        env["PATH_INFO"] = info
      end
    end

    private

    # "/memwatch" and "/memwatch/..." but not "/memwatchers".
    def mine?(info)
      info.start_with?(@path) && (info.size == @path.size || info.getbyte(@path.size) == 47)
    end
  end
end
