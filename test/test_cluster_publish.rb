# frozen_string_literal: true

require_relative "test_helper"
require "memwatch"
require "memwatch/cluster"

# A process joining the cluster view with the real sampler: what it publishes, when, and
# that a forked child does not publish under its parent's name.
class TestClusterPublish < Minitest::Test
  Cluster = Memwatch::Cluster

  def setup
    @tmp = Dir.mktmpdir("memwatch-cluster-pub-")
    Memwatch.stop
    Dir.mkdir(File.join(@tmp, "logs"))
    Memwatch.start(interval: 0.05, pss_every: 2, label: "worker-3", verdict_interval: 0.2, fork: false,
                   log: File.join(@tmp, "logs/"))
    Cluster.reset!
  end

  def teardown
    Cluster.reset!
    Memwatch.stop
    FileUtils.rm_rf(@tmp)
  end

  def test_join_publishes_at_once_then_on_every_periodic_tick
    Cluster.configure(dir: File.join(@tmp, "c"))
    first = Cluster.join
    path = File.join(@tmp, "c", "worker-3-#{Process.pid}.json")
    assert_equal 0o600, File.stat(path).mode & 0o777
    # The file may already hold the next publish: the periodic one runs on the
    # memwatch-gc thread from the first tick on. The boot publish is what join returned.
    doc = JSON.parse(File.read(path))
    assert_equal %w[worker 3 worker-3], first.values_at("role", "worker", "label").map { |v| v.is_a?(Integer) ? v.to_s : v }
    assert_equal [Process.pid] * 2, [first["pid"], doc["pid"]]
    assert_kind_of Integer, first.dig("memory", "pss_bytes"), "the boot publish uses a fresh sample (with PSS)"
    assert_operator doc["published"], :>=, first["published"]
    assert_equal File.join(@tmp, "logs", "memwatch-worker-3-#{Process.pid}.tsv"), doc["log_path"]

    wait_until { Memwatch.samples.size >= 3 }
    Memwatch::Runner.periodic
    again = JSON.parse(File.read(path))
    assert_operator again["published"], :>, doc["published"]
    # The sampler keeps ticking (every 50 ms) after the publish: a recent ring sample, not .last.
    assert_includes Memwatch.samples.last(10).map { |s| s[:tick].round(3) }, again.dig("sample", "tick").round(3)
  end

  # The default pss_every (nil: ~10 s of ticks) once made every periodic
  # publish fail with a NoMethodError (seen in bin/demo, not here, where
  # setup sets pss_every).
  def test_periodic_publish_with_the_default_pss_cadence
    Memwatch.stop
    Memwatch.start(interval: 0.05, label: "worker-3", verdict_interval: 0.2, fork: false, log: File.join(@tmp, "logs/"))
    Cluster.configure(dir: File.join(@tmp, "c"))
    first = Cluster.join
    path = File.join(@tmp, "c", "worker-3-#{Process.pid}.json")
    wait_until { Memwatch.samples.size >= 3 }
    _, err = capture_io { Memwatch::Runner.periodic }
    assert_empty err
    again = JSON.parse(File.read(path))
    assert_operator again["published"], :>, first["published"]
    assert_includes again["memory"].keys, "pss_bytes"
  end

  def test_reference_is_the_first_full_sample_after_the_delay
    Cluster.configure(dir: File.join(@tmp, "c"))
    first = Cluster.join(Cluster::Identity.current, reference_delay: 0.3)
    assert_nil first["reference"], "not before reference_delay"
    wait_until { Cluster.publisher.tap(&:publish).reference }
    ref = Cluster.publisher.reference
    assert_operator ref["tick"], :>=, first["published"] + 0.3 - 0.06
    %w[rss_bytes pss_bytes uss_bytes].each { |k| assert_kind_of Integer, ref[k] }
    assert_equal ref, Cluster.publisher.publish["reference"], "taken once, then kept"
  end

  def test_a_verdict_is_published_even_before_the_classifier_hook_runs
    Cluster.configure(dir: File.join(@tmp, "c"))
    doc = Cluster.join
    assert_includes Memwatch::Verdict::KINDS, doc.dig("verdict", "kind")
  end

  def test_leave_removes_the_file_and_shutdown_the_directory
    Cluster.configure(dir: File.join(@tmp, "c"))
    Cluster.join
    path = File.join(@tmp, "c", "worker-3-#{Process.pid}.json")
    assert Cluster.leave
    refute File.exist?(path)
    Memwatch::Runner.periodic
    refute File.exist?(path), "no publishing after leave"
    assert Cluster.shutdown
    assert Dir.exist?(File.join(@tmp, "c")), "a directory the user chose stays (empty)"
  end

  # Puma fires its after_stopped and worker-shutdown hooks inside a signal trap, where
  # Mutex#lock raises ThreadError: leave and shutdown must work there.
  def test_leave_and_shutdown_work_inside_a_signal_trap
    dir = File.join(@tmp, "c")
    Cluster.configure(dir: dir)
    Cluster.join
    results = []
    old = Signal.trap("USR2") { results << (Cluster.leave rescue $!) << (Cluster.shutdown rescue $!) }
    Process.kill("USR2", Process.pid)
    deadline = Process.clock_gettime(Process::CLOCK_MONOTONIC) + 5
    sleep 0.01 while results.size < 2 && Process.clock_gettime(Process::CLOCK_MONOTONIC) < deadline
    assert_equal [true, true], results
    assert_empty Dir.children(dir), "a directory the user chose stays, emptied"
  ensure
    Signal.trap("USR2", old || "DEFAULT")
  end

  def test_default_directory_is_private_and_removed_at_shutdown
    dir = Cluster.configure
    assert_equal File.join(Dir.tmpdir, "memwatch-#{Process.uid}", "cluster-#{Process.pid}"), dir.path
    assert_equal 0o700, File.stat(File.dirname(dir.path)).mode & 0o777
    Cluster.join
    assert Cluster.shutdown
    refute Dir.exist?(dir.path)
  end

  def test_dead_masters_directories_are_removed
    parent = File.join(Dir.tmpdir, "memwatch-#{Process.uid}")
    dead = Process.spawn("true").tap { |pid| Process.wait(pid) }
    stale = Cluster::Directory.new(File.join(parent, "cluster-#{dead}"), private_parent: true)
    stale.write("worker-0", dead, {})
    Cluster.configure
    refute Dir.exist?(stale.path)
  ensure
    Cluster.shutdown
  end

  def test_a_forked_child_does_not_publish_as_its_parent
    Cluster.configure(dir: File.join(@tmp, "c"))
    Cluster.join
    reader, writer = IO.pipe
    pid = fork do
      reader.close
      writer.puts [Cluster.publisher.publish.inspect, Cluster.publisher.current?].inspect
      writer.close
      exit!(0)
    end
    writer.close
    result = reader.read
    Process.wait(pid)
    assert_equal [nil.inspect, false].inspect, result.strip
    # (a *.tmp file is the parent's own periodic publish, caught between write and rename)
    assert_equal ["worker-3-#{Process.pid}.json"], Dir.children(File.join(@tmp, "c")).reject { |f| f.end_with?(".tmp") }
  end

  def test_own_state_without_join
    doc = Cluster.own_state
    assert_equal "worker-3", doc["label"]
    assert_equal Process.pid, doc["pid"]
    assert_equal "cluster", Cluster::View.new(Cluster::Directory.new(File.join(@tmp, "c")), doc).document["mode"]
  end

  def test_publish_failures_are_reported_once_and_sampling_goes_on
    Cluster.configure(dir: File.join(@tmp, "c"))
    Cluster.join
    FileUtils.rm_rf(File.join(@tmp, "c"))
    _, err = capture_io do
      Cluster.periodic
      Cluster.periodic
    end
    assert_equal 1, err.scan(/memwatch cluster: cannot publish/).size, err
    assert Memwatch.running?
  end

  private

  def wait_until(timeout: 10)
    deadline = Process.clock_gettime(Process::CLOCK_MONOTONIC) + timeout
    until yield
      flunk "timed out" if Process.clock_gettime(Process::CLOCK_MONOTONIC) > deadline
      sleep 0.02
    end
  end
end
