# frozen_string_literal: true

require_relative "run"
require_relative "judge"
require_relative "signature"

module LeakLab
  # Runs scenarios x allocators x worker counts, a few at a time, and judges
  # each: what memwatch said (Judge) next to what the lab measured itself
  # (Signature), so a wrong verdict can be told from a scenario that did not
  # produce its signature.
  class Matrix
    Cell = Struct.new(:scenario, :allocator, :workers) do
      def label
        "#{scenario.name}/#{allocator}/#{workers.zero? ? 'single' : "workers#{workers}"}"
      end
    end

    # One process of one cell: memwatch's outcome and the probe's signature.
    # honest? says the scenario produced what it claims (the lab's own probe);
    # pass? says memwatch got it right.
    Row = Struct.new(:cell, :pid, :outcome, :signature, :dir, :drive, :error, keyword_init: true) do
      def pass?
        error.nil? && outcome&.pass?
      end

      def dishonesty
        signature ? signature.check(cell.scenario.measured || {}) : []
      end

      def honest?
        error.nil? && dishonesty.empty?
      end
    end

    # call-seq: Matrix.product(scenarios, allocators, workers) -> Array of Cell
    def self.product(scenarios, allocators, workers)
      scenarios.product(allocators, workers).map { |s, a, w| Cell.new(s, a, w) }
    end

    # call-seq: Matrix.new(cells, duration:, out:, parallel: 2, classifier_options: {},
    #                      step: 30, log: $stdout)
    #
    # With +rejudge+ nothing runs: the runs saved under +out+ are judged again.
    def initialize(cells, duration:, out:, parallel: 2, classifier_options: {}, step: 30, log: $stdout,
                   rejudge: false)
      @cells = cells
      @rejudge = rejudge
      @duration, @out, @parallel = duration, out, parallel
      @classifier_options, @step, @log = classifier_options, step, log
      @lock = Mutex.new
    end

    # call-seq: run -> Array of Row (in cell order)
    def run
      LeakLab.build_ext unless @rejudge # once, before the runs race for it
      cells = @rejudge ? @cells.select { |c| File.exist?(File.join(dir_of(c), "drive.json")) } : @cells
      queue = Queue.new
      cells.each_with_index { |c, i| queue << [c, i] }
      queue.close
      rows = []
      Array.new(@parallel) do
        Thread.new { while (c, i = queue.pop) do rows[i] = run_cell(c) end }
      end.each(&:join)
      rows.flatten
    end

    private

    def run_cell(cell)
      say "start #{cell.label}"
      dir = dir_of(cell)
      run = Run.new(cell.scenario, dir: dir, allocator: cell.allocator, workers: cell.workers,
                    duration: @duration)
      FileUtils.rm_rf(dir) unless @rejudge
      result = @rejudge ? run.collect : run.call
      rows = judge(cell, result)
      say "done  #{cell.label}: #{rows.map { |r| verdict_word(r) }.join(', ')}"
      rows
    rescue StandardError => e
      say "FAIL  #{cell.label}: #{e.class}: #{e.message.lines.first}"
      [Row.new(cell: cell, dir: dir, error: "#{e.class}: #{e.message}")]
    end

    def dir_of(cell)
      File.join(@out, cell.label.tr("/", "-"))
    end

    def judge(cell, result)
      judge = Judge.new(cell.scenario, classifier_options: @classifier_options, step: @step)
      result.procs.map do |pr|
        Row.new(cell: cell, pid: pr.pid, outcome: judge.judge(pr.pid, pr.memwatch_log),
                signature: Signature.new(pr.probe_rows), dir: result.dir, drive: result.drive)
      end
    end

    def verdict_word(row)
      v = row.outcome&.verdict
      v ? "#{v.kind}#{"(#{v.level})" if v.level}#{' ok' if row.pass?}" : "no verdict"
    end

    def say(msg)
      @lock.synchronize { @log&.puts("[lab #{Time.now.strftime('%H:%M:%S')}] #{msg}") }
    end
  end
end
