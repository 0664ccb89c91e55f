# frozen_string_literal: true

require_relative "test_helper"
require "etc"
require "memwatch/cluster/directory"

# The shared directory on its own (pure Ruby, no native extension): private, atomic,
# and tolerant of anything odd a reader may find in it.
class TestClusterDirectory < Minitest::Test
  Directory = Memwatch::Cluster::Directory

  def setup
    @tmp = Dir.mktmpdir("memwatch-cluster-dir-")
  end

  def teardown
    FileUtils.rm_rf(@tmp)
  end

  def test_creates_a_private_directory_and_private_files
    dir = Directory.new(File.join(@tmp, "c"))
    assert_equal 0o700, File.stat(dir.path).mode & 0o777
    path = dir.write("worker-0", 123, { "pid" => 123, "x" => [1, 2] })
    assert_equal File.join(dir.path, "worker-0-123.json"), path
    assert_equal 0o600, File.stat(path).mode & 0o777
    assert_equal({ "pid" => 123, "x" => [1, 2] }, dir.read(path))
    assert_equal [["worker-0", 123, path]], dir.entries
    assert_empty Dir.children(dir.path).grep(/\.tmp\z/), "no temporary file left"
  end

  def test_private_parent_is_created_with_mode_0700
    dir = Directory.new(File.join(@tmp, "memwatch-x", "cluster-1"), private_parent: true)
    assert_equal 0o700, File.stat(File.dirname(dir.path)).mode & 0o777
  end

  def test_refuses_a_directory_others_can_use
    open_dir = File.join(@tmp, "open")
    Dir.mkdir(open_dir, 0o755)
    File.chmod(0o755, open_dir)
    error = assert_raises(Memwatch::Error) { Directory.new(open_dir) }
    assert_match(/must be a directory owned by uid \d+ with mode 0700 \(it is mode 755/, error.message)
  end

  def test_refuses_a_symlink
    real = File.join(@tmp, "real")
    Dir.mkdir(real, 0o700)
    link = File.join(@tmp, "link")
    File.symlink(real, link)
    error = assert_raises(Memwatch::Error) { Directory.new(link) }
    assert_match(/it is link/, error.message)
  end

  def test_refuses_a_directory_another_user_owns
    skip "needs root to give a directory away" unless Process.euid.zero?
    theirs = File.join(@tmp, "theirs")
    Dir.mkdir(theirs, 0o700)
    File.chown(Etc.getpwnam("nobody").uid, nil, theirs)
    assert_raises(Memwatch::Error) { Directory.new(theirs) }
  end

  def test_rejects_a_bad_path_argument
    assert_raises(Memwatch::Error) { Directory.new("") }
    assert_raises(Memwatch::Error) { Directory.new(nil) }
  end

  def test_readers_skip_what_is_not_a_small_json_object_of_ours
    dir = Directory.new(File.join(@tmp, "c"))
    bad = File.join(dir.path, "worker-1-5.json")
    File.write(bad, "{not json")
    assert_nil dir.read(bad)
    File.write(bad, "[1,2]")
    assert_nil dir.read(bad), "a JSON array is not a state"
    File.write(bad, %({"a":"#{"x" * (Directory::MAX_FILE + 1)}"}))
    assert_nil dir.read(bad), "oversized"
    File.write(File.join(dir.path, "notes.txt"), "hi")
    File.write(File.join(dir.path, "worker-2-x.json"), "{}")
    assert_equal ["worker-1"], dir.entries.map(&:first)
    assert_nil dir.read(File.join(dir.path, "gone-1.json"))
  end

  def test_reader_does_not_follow_a_symlinked_state_file
    dir = Directory.new(File.join(@tmp, "c"))
    target = File.join(@tmp, "elsewhere.json")
    File.write(target, '{"pid": 1}')
    File.symlink(target, File.join(dir.path, "worker-0-1.json"))
    assert_nil dir.read(File.join(dir.path, "worker-0-1.json"))
  end

  def test_rewrites_are_atomic_for_a_concurrent_reader
    dir = Directory.new(File.join(@tmp, "c"))
    path = dir.write("worker-0", 1, { "n" => 0, "pad" => "y" * 20_000 })
    reader = Thread.new { Array.new(300) { dir.read(path) } }
    300.times { |i| dir.write("worker-0", 1, { "n" => i, "pad" => "y" * 20_000 }) }
    seen = reader.value
    assert seen.all? { |doc| doc.is_a?(Hash) && doc["pad"].size == 20_000 }, "a reader never sees a partial file"
  end

  def test_relay_box_and_destroy
    dir = Directory.new(File.join(@tmp, "c"))
    box = dir.relay_box("worker-0", 42, create: true)
    assert_equal 0o700, File.stat(box).mode & 0o777
    dir.write("master", 1, {})
    assert dir.destroy(keep_dir: true)
    assert Dir.exist?(dir.path)
    assert_empty Dir.children(dir.path)
    assert dir.destroy
    refute Dir.exist?(dir.path)
  end
end
