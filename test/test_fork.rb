# frozen_string_literal: true

require_relative "test_helper"
require "memwatch"

class TestFork < Minitest::Test
  def teardown = Memwatch.stop

  def read_rows(path)
    File.readlines(path).reject { |l| l.start_with?("#") }.drop(1).map { |l| l.chomp.split("\t", -1) }
  end

  # A forked child samples itself, into a log of its own; the parent goes on.
  def test_child_samples_with_its_own_log_and_parent_is_untouched
    Dir.mktmpdir do |dir|
      Memwatch.start(interval: 0.02, log: dir)
      parent_log = Memwatch.log_path
      sleep 0.1
      reader, writer = IO.pipe
      pid = fork do
        reader.close
        sleep 0.3
        writer.puts [Memwatch.running?, Memwatch.log_path, Memwatch.samples.size, Memwatch.samples.first[:tick]].inspect
        writer.close
        exit!(0)
      end
      writer.close
      child_running, child_log, child_samples, child_first = eval(reader.read) # rubocop:disable Security/Eval
      Process.wait(pid)
      assert child_running
      assert_equal File.join(dir, "memwatch-#{pid}.tsv"), child_log
      refute_equal parent_log, child_log
      assert_operator child_samples, :>=, 3
      assert Memwatch.running?, "the parent keeps sampling"
      assert_equal parent_log, Memwatch.log_path
      before = Memwatch.stats[:ticks]
      sleep 0.1
      assert_operator Memwatch.stats[:ticks], :>, before

      child_rows = read_rows(child_log)
      assert_operator child_rows.size, :>=, 3
      assert_operator child_rows.first[1].to_f, :>=, child_first - 0.001, "no parent history in the child's log"
      assert_includes File.read(child_log), "# pid: #{pid}\n# ppid: #{Process.pid}\n"
      parent_ticks = read_rows(parent_log).map { |r| r[1] }
      assert_equal parent_ticks.uniq, parent_ticks, "no row is written twice across fork"
    end
  end

  def test_fork_false_leaves_the_child_quiet
    Memwatch.start(interval: 0.02, fork: false)
    out = IO.popen("-") do |io|
      if io
        io.read
      else
        print Memwatch.running?
        exit!(0)
      end
    end
    assert_equal "false", out
    assert Memwatch.running?
  end

  def test_daemon_style_fork_resets_c_state
    Memwatch.start(interval: 0.02)
    # Process.daemon bypasses Process._fork; pthread_atfork still resets C
    # state, so the child says it is not running and can start again.
    rd, wr = IO.pipe
    pid = fork do
      rd.close
      Process.daemon(true, true)
      states = [Memwatch.running?, Memwatch.start(interval: 0.02), (sleep 0.1; Memwatch.samples.size > 1)]
      wr.write(states.inspect)
      wr.close
      exit!(0)
    end
    wr.close
    Process.wait(pid)
    assert_equal "[false, true, true]", rd.read
  end
end
