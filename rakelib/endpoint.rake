# frozen_string_literal: true

# Tasks for the Rack endpoint that do not belong in `rake test`.
ENDPOINT_TESTS = %w[test/test_endpoint_config.rb test/test_endpoint_access.rb test/test_app.rb
                    test/test_endpoint_fuzz.rb test/test_endpoint_dump.rb test/test_endpoint_dashboard.rb
                    test/e2e/test_endpoint_puma.rb].freeze

namespace :test do
  desc "The endpoint's tests alone (unit, fuzz, dumps, Puma + curl + Chromium end to end)"
  task endpoint: :compile do
    sh RbConfig.ruby, "-Ilib", "-Itest", "-e", "ARGV.each { |f| require File.expand_path(f) }", *ENDPOINT_TESTS
  end

  desc "The endpoint's tests on Debian's Rack 2.2 and Puma 5.6 (run outside Bundler)"
  task endpoint_debian: :compile do
    env = { "MEMWATCH_RACK_VERSION" => ENV.fetch("RACK_VERSION", "2.2.22"),
            "MEMWATCH_PUMA_VERSION" => ENV.fetch("PUMA_VERSION", "5.6.5") }
    sh env, RbConfig.ruby, "-Ilib", "-Itest", "-e", "ARGV.each { |f| require File.expand_path(f) }", *ENDPOINT_TESTS
  end
end

namespace :bench do
  desc "Endpoint on a real Puma: status req/s vs hello world (wrk), worker stall during a 1M-object heap dump"
  task endpoint: :compile do
    sh RbConfig.ruby, "-Ilib", "test/e2e/bench_endpoint.rb"
  end
end
