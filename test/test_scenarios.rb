# frozen_string_literal: true

require_relative "test_helper"
require_relative "scenarios/lab/matrix"

# The leak lab's CI subset: real leaking apps (test/scenarios/) under a real
# Puma, loaded by a separate paced client for ~5.5 minutes, each judged by
# memwatch's classifier with its *default* options over the app's own log,
# exactly as a user would get it. The cells run concurrently (most need ~10%
# of a core; objects and the cluster cell more) so the whole subset takes
# about 6 minutes of wall clock.
# The full matrix is `rake lab` (doc/lab-results.md).
#
# Every cell also checks the lab itself: the scenario must show, on the lab's
# own probe, the signature it claims (doc/signatures.md); otherwise a wrong
# verdict could be the lab's fault.
#
# MEMWATCH_LAB=0 skips this file (for valgrind and other slow suite runs);
# MEMWATCH_LAB_DURATION sets the load time; MEMWATCH_LAB_KEEP=1 keeps the logs.
class TestScenarios < Minitest::Test
  # [scenario, allocator, workers]: the kinds that are easiest to confuse
  # (Ruby objects vs Ruby-owned malloc vs native vs fragmentation) once each,
  # both allocators, Puma cluster mode, and two warm-ups that must never be
  # called a leak (a fast one that is over in 2 minutes, a slow one that is
  # still rising at the end).
  CELLS = [
    %w[native glibc 0], %w[objects jemalloc 0], %w[strings glibc 2],
    %w[fragment jemalloc 0], %w[cache glibc 0], %w[warmup jemalloc 0]
  ].freeze
  DURATION = Integer(ENV.fetch("MEMWATCH_LAB_DURATION", "330"))
  @lock = Mutex.new

  class << self
    # Runs every cell once, concurrently, on first use.
    def rows
      @lock.synchronize { @rows ||= run_all }
    end

    def out
      @out ||= Dir.mktmpdir("memwatch-lab-")
    end

    private

    def run_all
      cells = CELLS.map { |n, a, w| LeakLab::Matrix::Cell.new(LeakLab::CATALOG.fetch(n), a, Integer(w)) }
      log = ENV["MEMWATCH_LAB_VERBOSE"] == "1" ? $stderr : nil
      rows = LeakLab::Matrix.new(cells, duration: DURATION, out: out, parallel: cells.size, log: log).run
      FileUtils.rm_rf(out) unless ENV["MEMWATCH_LAB_KEEP"] == "1" || !rows.all?(&:pass?)
      rows
    end
  end

  def setup
    skip "MEMWATCH_LAB=0" if ENV["MEMWATCH_LAB"] == "0"
    skip "memwatch native extension not built (rake compile)" unless File.exist?(File.expand_path("../lib/memwatch/memwatch.so", __dir__))
  end

  CELLS.each do |name, allocator, workers|
    mode = workers == "0" ? "single" : "workers#{workers}"
    define_method("test_#{name}_#{allocator}_#{mode}") { check(name, allocator, Integer(workers)) }
  end

  private

  def check(name, allocator, workers)
    rows = self.class.rows.select do |r|
      r.cell.scenario.name == name && r.cell.allocator == allocator && r.cell.workers == workers
    end
    refute_empty rows
    rows.each { |r| assert_nil r.error, "#{r.cell.label}: the run failed (logs: #{r.dir})" }
    assert_equal [workers, 1].max, rows.size, "one judged process per serving process (logs: #{rows.first.dir})"
    rows.each do |r|
      assert r.honest?, "#{r.cell.label} pid #{r.pid}: the scenario did not produce its signature: " \
                        "#{r.dishonesty.join('; ')} (logs: #{r.dir})"
      assert r.pass?, "#{r.cell.label} pid #{r.pid}: #{r.outcome.problems.join('; ')}\n#{r.outcome.verdict}" \
                      "timeline: #{r.outcome.timeline.map { |t, k, l| "#{t}s #{k}#{"(#{l})" if l}" }.join(', ')}\n" \
                      "(logs: #{r.dir})"
    end
  end
end
