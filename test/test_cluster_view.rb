# frozen_string_literal: true

require_relative "test_helper"
require "memwatch/cluster/directory"
require "memwatch/cluster/view"

# The merged view over published states (pure Ruby: states written by hand, real pids).
class TestClusterView < Minitest::Test
  Cluster = Memwatch::Cluster

  def setup
    @tmp = Dir.mktmpdir("memwatch-cluster-view-")
    @dir = Cluster::Directory.new(File.join(@tmp, "c"))
    @now = Time.now.to_f
    @children = []
  end

  def teardown
    @children.each do |pid|
      Process.kill(:KILL, pid)
      Process.wait(pid)
    rescue Errno::ESRCH, Errno::ECHILD
      nil
    end
    FileUtils.rm_rf(@tmp)
  end

  def test_lists_every_live_process_sorted_with_cow_figures
    @dir.write("worker-1", live_pid, state("worker-1", @children.last, rss: 300, pss: 200, uss: 120, ref_uss: 100))
    @dir.write("master", live_pid, state("master", @children.last, rss: 400, pss: 150, uss: 50))
    view = Cluster::View.new(@dir, state("worker-0", Process.pid, rss: 310, pss: 210, uss: 90, ref_uss: 80), now: @now)
    doc = view.document

    assert_equal %w[master 0 1], doc["processes"].map { |p| p["worker"] }
    assert_equal({ "worker" => "0", "role" => "worker", "pid" => Process.pid }, doc["answered_by"])
    assert_equal [false, true, false], doc["processes"].map { |p| p["self"] }
    w1 = doc["processes"].last
    assert_equal 20, w1.dig("growth", "uss_bytes")
    assert_equal 180, w1["shared_bytes"], "RSS − USS"
    assert_equal 560, doc.dig("totals", "pss_bytes")
    assert_equal 1010, doc.dig("totals", "rss_bytes")
    assert_equal "1", doc.dig("totals", "largest_by_uss")
    assert_equal "0", doc.dig("totals", "largest_by_rss"), "RSS and USS can pick different workers"
    assert_empty doc["pruned"]
  end

  def test_prunes_exited_processes_and_deletes_their_files
    dead = dead_pid
    path = @dir.write("worker-1", dead, state("worker-1", dead))
    view = Cluster::View.new(@dir, state("worker-0", Process.pid), now: @now)
    assert_equal ["0"], view.processes.map { |p| p["worker"] }
    assert_equal [{ "label" => "worker-1", "pid" => dead, "reason" => "exited" }], view.pruned
    refute File.exist?(path)
  end

  def test_leaves_out_stale_states_but_keeps_their_files
    pid = live_pid
    old = state("worker-1", pid, published: @now - 60)
    path = @dir.write("worker-1", pid, old)
    view = Cluster::View.new(@dir, state("worker-0", Process.pid), now: @now)
    assert_equal ["0"], view.processes.map { |p| p["worker"] }
    assert_match(/\Astale/, view.pruned.first["reason"])
    assert File.exist?(path), "a stale (alive) process may publish again"
  end

  def test_staleness_scales_with_the_publish_interval
    assert_equal Cluster::View::MIN_STALE, Cluster::View.stale_after("publish_every" => 2.0)
    assert_equal 90.0, Cluster::View.stale_after("publish_every" => 30.0)
  end

  def test_a_restarted_worker_replaces_its_predecessor_under_the_same_index
    older = live_pid
    newer = live_pid
    @dir.write("worker-1", older, state("worker-1", older, published: @now - 3))
    @dir.write("worker-1", newer, state("worker-1", newer, published: @now - 1))
    view = Cluster::View.new(@dir, state("worker-0", Process.pid), now: @now)
    assert_equal [newer], view.processes.select { |p| p["worker"] == "1" }.map { |p| p["pid"] }
    assert_equal "replaced by pid #{newer}", view.pruned.first["reason"]
  end

  def test_unreadable_states_are_reported_not_fatal
    pid = live_pid
    File.write(@dir.file_for("worker-3", pid), "garbage")
    view = Cluster::View.new(@dir, state("worker-0", Process.pid), now: @now)
    assert_equal "unreadable", view.pruned.first["reason"]
  end

  def test_a_process_alone_has_no_directory
    doc = Cluster::View.new(nil, state("single", Process.pid), now: @now).document
    assert_equal "single", doc["mode"]
    assert_nil doc["directory"]
    assert_equal ["single"], doc["processes"].map { |p| p["worker"] }
  end

  def test_identity_from_labels
    assert_equal %w[worker 12], Cluster::Identity.for("worker-12").to_a.first(2)
    assert_equal %w[master master], Cluster::Identity.for("master").to_a.first(2)
    assert_equal %w[single single single], Cluster::Identity.for(nil).to_a
    assert_equal %w[process sidekiq sidekiq], Cluster::Identity.for("sidekiq").to_a
  end

  def test_liveness_sees_through_zombies
    pid = Process.spawn("true")
    sleep 0.05 until Cluster::Liveness.zombie?(pid) # exited, not yet reaped
    refute Cluster::Liveness.alive?(pid)
    Process.wait(pid)
    refute Cluster::Liveness.alive?(pid)
    assert Cluster::Liveness.alive?(Process.pid)
  end

  private

  def live_pid
    @children << Process.spawn("sleep", "30")
    @children.last
  end

  def dead_pid
    pid = Process.spawn("true")
    Process.wait(pid)
    pid
  end

  def state(label, pid, rss: 100, pss: 80, uss: 60, ref_uss: nil, published: @now)
    id = Cluster::Identity.for(label)
    { "role" => id.role, "worker" => id.worker, "label" => label, "pid" => pid, "published" => published,
      "publish_every" => 2.0, "sample" => { "tick" => published, "rss_bytes" => rss },
      "memory" => { "tick" => published, "rss_bytes" => rss, "pss_bytes" => pss, "uss_bytes" => uss, "pss_tick" => published },
      "reference" => ref_uss && { "tick" => published - 60, "rss_bytes" => rss, "pss_bytes" => pss, "uss_bytes" => ref_uss },
      "verdict" => { "kind" => "none" } }
  end
end
