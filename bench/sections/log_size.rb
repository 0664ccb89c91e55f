# frozen_string_literal: true

# Log bytes per day at the default settings (one row per second): the mean row size
# of a real log, written by the real sampler, times 86,400; plus the same for gc_tracer
# on this box's GC rate when it is installed (for scale, see perf-anchors).
module Bench
  module LogSize
    SCRIPT = <<~RUBY
      require "memwatch"
      Memwatch.start(interval: 0.02, log: ARGV[0])
      junk = []
      300.times { junk << Array.new(2000) { |i| "x\#{i}" }; junk.shift if junk.size > 50; sleep 0.01 }
      Memwatch.stop
      rows = File.readlines(Memwatch.log_path).select { |l| l.start_with?("sample\t") }
      puts [rows.size, rows.sum(&:bytesize), File.size(Memwatch.log_path)].join(" ")
    RUBY

    module_function

    def run
      Dir.mktmpdir do |dir|
        rows, bytes, file = Bench.run!([RbConfig.ruby, "-I#{ROOT}/lib", "-e", SCRIPT, dir], timeout: 120).split.map(&:to_i)
        per_row = bytes.fdiv(rows)
        Bench.save("log_size", { "rows" => rows, "bytes_per_row" => per_row.round(1), "file_bytes" => file,
                                 "interval" => 1.0, "bytes_per_day" => (per_row * 86_400).round,
                                 "log_max_bytes" => 64 * 1024 * 1024, "log_keep" => 3 })
      end
    end
  end
end
