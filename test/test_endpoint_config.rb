# frozen_string_literal: true

require_relative "test_helper"
require "memwatch/app"
require "memwatch/middleware"

# Boot-time checks of the endpoint's options: unsafe or malformed settings fail at once.
class TestEndpointConfig < Minitest::Test
  TOKEN = "0123456789abcdef0123"

  def config(**opts) = Memwatch::EndpointConfig.new(token_env: nil, **opts)

  def test_defaults_are_loopback_only_without_dumps_or_tracing
    c = config
    refute c.token?
    refute c.dumps?
    refute c.tracing?
    assert_equal "loopback", c.auth_mode
    assert_nil c.allow
  end

  def test_dumps_without_a_token_fail_at_boot_with_the_reason
    e = assert_raises(Memwatch::EndpointConfigError) { Memwatch::App.new(token_env: nil, dumps: true) }
    assert_match(/dumps: true needs a token/, e.message)
    assert_match(/secrets/, e.message)
    e = assert_raises(Memwatch::EndpointConfigError) { config(tracing: true) }
    assert_match(/tracing: true needs a token/, e.message)
  end

  def test_dumps_with_a_token_are_allowed
    c = config(token: TOKEN, dumps: true, tracing: true)
    assert c.dumps?
    assert c.tracing?
    assert_equal "token", c.auth_mode
  end

  def test_only_the_digest_of_the_token_is_kept
    c = config(token: TOKEN)
    assert_equal Digest::SHA256.digest(TOKEN), c.token_digest
    refute_includes c.instance_variables.map { |iv| c.instance_variable_get(iv).to_s }.join, TOKEN
    refute_includes c.public_h.to_s, TOKEN
  end

  def test_short_or_unprintable_tokens_are_refused
    assert_raises(Memwatch::EndpointConfigError) { config(token: "short") }
    e = assert_raises(Memwatch::EndpointConfigError) { config(token: "has a space in it 0123") }
    assert_match(/printable ASCII/, e.message)
    assert_raises(Memwatch::EndpointConfigError) { config(token: 1234) }
  end

  def test_token_from_a_file_and_from_the_environment
    Dir.mktmpdir do |dir|
      path = File.join(dir, "token")
      File.write(path, "#{TOKEN}\n")
      assert_equal Digest::SHA256.digest(TOKEN), config(token_file: path).token_digest
      e = assert_raises(Memwatch::EndpointConfigError) { config(token_file: File.join(dir, "missing")) }
      assert_match(/cannot read/, e.message)
      assert_raises(Memwatch::EndpointConfigError) { config(token: TOKEN, token_file: path) }
    end
    ENV["MEMWATCH_TEST_TOKEN"] = TOKEN
    assert Memwatch::EndpointConfig.new(token_env: "MEMWATCH_TEST_TOKEN").token?
  ensure
    ENV.delete("MEMWATCH_TEST_TOKEN")
  end

  def test_allow_takes_addresses_cidrs_or_a_callable
    c = config(allow: ["10.0.0.0/8", "192.168.1.7", IPAddr.new("::1")])
    assert_equal 3, c.allow.size
    assert_equal "allow", c.auth_mode
    permit = ->(_env) { true }
    assert_same permit, config(allow: permit).allow
    e = assert_raises(Memwatch::EndpointConfigError) { config(allow: ["10.0.0.0/8", "not-an-ip"]) }
    assert_match(/"not-an-ip" is not an IP address/, e.message)
    assert_raises(Memwatch::EndpointConfigError) { config(allow: []) }
  end

  def test_bad_options_name_what_is_accepted
    e = assert_raises(Memwatch::EndpointConfigError) { config(dumpz: true) }
    assert_match(/unknown option dumpz \(known: token, /, e.message)
    assert_raises(Memwatch::EndpointConfigError) { config(token: TOKEN, dumps: "yes") }
    assert_raises(Memwatch::EndpointConfigError) { config(dump_max_bytes: 0) }
    assert_raises(Memwatch::EndpointConfigError) { config(dump_timeout: -1) }
    assert_raises(Memwatch::EndpointConfigError) { config(dump_cooldown: -1) }
    assert_raises(Memwatch::EndpointConfigError) { config(logger: Object.new) }
  end

  def test_middleware_checks_its_path_and_options_at_boot
    app = ->(_env) { [200, {}, []] }
    assert_raises(Memwatch::EndpointConfigError) { Memwatch::Middleware.new(app, path: "memwatch") }
    assert_raises(Memwatch::EndpointConfigError) { Memwatch::Middleware.new(app, path: "/memwatch/") }
    assert_raises(Memwatch::EndpointConfigError) { Memwatch::Middleware.new(app, token_env: nil, dumps: true) }
  end
end
