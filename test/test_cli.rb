# frozen_string_literal: true

require_relative "test_helper"
require_relative "fixtures/logs/cli_support"

# The dispatcher and what every command shares: --help, bad options, one-line errors.
class TestCLI < Minitest::Test
  include CliSupport

  def own_commands
    Memwatch::CLI::COMMANDS.keys - %w[help heap]
  end

  def test_help_lists_every_command_including_heap
    code, out, = cli("help")
    assert_equal 0, code
    Memwatch::CLI::COMMANDS.each_key { |name| assert_match(/^  #{name}\s+\S/, out) }
    assert_match(/Exit codes: 0 ok \/ no leak, 1 leak found, 2 error, 3 insufficient data/, out)
    assert_equal cli("--help")[1], out
    assert_equal cli[1], out, "no arguments prints the help"
  end

  def test_every_command_has_help_with_exit_codes
    own_commands.each do |name|
      code, out, err = cli(name, "--help")
      assert_equal 0, code, name
      assert_match(/\AUsage: memwatch #{name}/, out, name)
      assert_match(/Exit codes:/, out, name)
      assert_empty err, name
      assert_equal out, cli("help", name)[1], "memwatch help #{name}"
    end
  end

  def test_every_command_rejects_an_unknown_option_in_one_line
    own_commands.each do |name|
      code, out, err = cli(name, "--no-such-option")
      assert_equal 2, code, name
      assert_empty out, name
      assert_one_error_line(err, /#{name}: invalid option: --no-such-option \(see `memwatch #{name} --help`\)/)
    end
  end

  def test_unknown_command
    code, out, err = cli("frobnicate")
    assert_equal 2, code
    assert_empty out
    assert_one_error_line(err, /unknown command "frobnicate" \(see `memwatch help`\)/)
  end

  def test_version
    assert_equal [0, "memwatch #{Memwatch::VERSION}\n", ""], cli("version")
    assert_equal [0, "memwatch #{Memwatch::VERSION}\n", ""], cli("--version")
    code, out, = cli("version", "--json")
    assert_equal 0, code
    assert_equal({ "memwatch" => Memwatch::VERSION, "ruby" => RUBY_VERSION, "platform" => RUBY_PLATFORM }, JSON.parse(out))
    assert_equal 2, cli("version", "extra")[0]
  end

  # The executable itself: exit statuses reach the shell, and reading commands do not load
  # the native extension.
  def test_executable_and_no_native_extension_for_file_commands
    code, out, = exe("version")
    assert_equal 0, code
    assert_equal "memwatch #{Memwatch::VERSION}\n", out
    script = %(require "memwatch/cli"; %w[summary plot top].each { |c| require Memwatch::CLI::COMMANDS[c][0] }; ) +
             %(p $LOADED_FEATURES.grep(/memwatch\\.so|memwatch\\/memwatch/).size)
    o, e, s = Open3.capture3(RbConfig.ruby, "-I", LIB, "-e", script)
    assert s.success?, e
    assert_equal "0\n", o
  end
end
