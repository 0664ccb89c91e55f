# frozen_string_literal: true

require "etc"
require "memwatch/cli/command"
require "memwatch/cli/doctor_checks"

module Memwatch
  module CLI
    # `memwatch doctor`: what this environment allows (allocator, jemalloc profiling, /proc,
    # cgroup limits, log directory, Ruby and GC keys) and the fix for each problem. It
    # loads the full gem: it checks this process, so run it with the app's environment
    # (LD_PRELOAD, MALLOC_CONF, MEMWATCH_LOG).
    class Doctor < Command
      EXIT_CODES = "Exit codes: 0 memwatch can work here (warnings allowed), 2 a check failed (or bad arguments)."
      MARK = { ok: "ok", warn: "warn", fail: "FAIL" }.freeze

      private

      def banner
        <<~TEXT.chomp
          Usage: memwatch doctor [--log-dir DIR] [--json]

          Checks this environment for memwatch. Run it like the app runs (same user, same
          LD_PRELOAD / MALLOC_CONF / MEMWATCH_LOG), e.g. `LD_PRELOAD=... memwatch doctor`.
        TEXT
      end

      def define_options(opts)
        opts.on("--log-dir DIR", "log directory to check (default: $MEMWATCH_LOG)") { |v| @options[:log_dir] = v }
        json_option(opts)
      end

      def execute(args)
        no_extra_args(args)
        checks = run_checks
        code = checks.any? { |c| c.status == :fail } ? ERROR : OK
        @options[:json] ? print_json(checks: checks.map(&:to_h), exit_code: code) : print_text(checks)
        code
      end

      def run_checks
        c = DoctorChecks
        [c.ruby, c.linux, c.extension, c.allocator, c.proc_self, c.proc_others, c.cgroup,
         c.log_dir(@options[:log_dir] || ENV["MEMWATCH_LOG"]), c.gc_keys, c.gnuplot].flatten.compact
      end

      def print_text(checks)
        out.puts "memwatch doctor: memwatch #{Memwatch::VERSION}, pid #{Process.pid}, uid #{Process.uid}", ""
        width = checks.map { |c| c.name.size }.max
        checks.each do |c|
          out.puts format("  %-4s  %-#{width}s  %s", MARK[c.status], c.name, c.detail)
          out.puts format("  %-4s  %-#{width}s  fix: %s", "", "", c.fix) if c.fix
        end
        fails = checks.count { |c| c.status == :fail }
        warns = checks.count { |c| c.status == :warn }
        out.puts "", "#{fails} failed, #{warns} warning#{warns == 1 ? '' : 's'}, #{checks.size - fails - warns} ok"
      end
    end
  end
end
