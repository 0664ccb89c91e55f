# frozen_string_literal: true

# The app the Puma end-to-end tests boot (harness.rb): memwatch's endpoint under
# /memwatch (loopback, or MEMWATCH_TOKEN; heap dumps with MEMWATCH_TEST_DUMPS=1) and a
# small app that keeps a little memory per request, so the figures move.
require "memwatch"

KEEP = []
use Memwatch::Middleware, path: "/memwatch", dumps: ENV["MEMWATCH_TEST_DUMPS"] == "1", dump_cooldown: 0
run lambda { |env|
  KEEP << ("x" * 512) if KEEP.size < 20_000
  body = "ok pid=#{Process.pid} #{env["PATH_INFO"]}\n"
  [200, { "content-type" => "text/plain", "content-length" => body.bytesize.to_s }, [body]]
}
