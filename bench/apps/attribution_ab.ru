# frozen_string_literal: true

# Memwatch::Attribution against a no-op middleware in the same place, everything else
# equal (sampler at 1 s started at boot, the endpoint mounted): BENCH_MODE=noop|full.
$LOAD_PATH.unshift File.expand_path("../../lib", __dir__)
require "memwatch"
require "memwatch/app"
require "memwatch/attribution"

# The same shape as the real middleware, doing nothing.
class NoopMiddleware
  def initialize(app)
    @app = app
  end

  def call(env) = @app.call(env)
end

Memwatch.start(interval: 1.0, fork: false)
use({ "noop" => NoopMiddleware, "full" => Memwatch::Attribution }.fetch(ENV.fetch("BENCH_MODE", "full")))
use Memwatch::Middleware, path: "/memwatch", token_env: nil
run ->(_env) { [200, { "content-type" => "text/plain" }, ["Hello World!"]] }
