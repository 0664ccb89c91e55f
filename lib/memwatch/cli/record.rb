# frozen_string_literal: true

require "fileutils"
require "memwatch/cli/command"
require "memwatch/host_recorder"
require "memwatch/host_recorder/pidfile"

module Memwatch
  module CLI
    # `memwatch record --all`: samples every process and the host's memory into
    # DIR/memwatch-host.tsv, in the foreground (for systemd) or as a daemon with a pidfile.
    # Restarting appends to the same log, so stop/resume loses nothing already written.
    class Record < Command
      EXIT_CODES = "Exit codes: 0 recorded (or stopped), 2 error (bad arguments, directory not writable, already running)."
      SIZE = /\A(\d+)([kmg]?)i?b?\z/i.freeze
      Pidfile = Memwatch::HostRecorder::Pidfile

      private

      def banner
        <<~TEXT.chomp
          Usage: memwatch record --all [-o DIR] [--interval SECONDS] [--daemon | --duration TIME]
                 memwatch record --stop [-o DIR]

          Records every process (pid, command, RSS, PSS where readable) and the host's memory
          (/proc/meminfo, cgroup) to DIR/memwatch-host.tsv. Then: memwatch top DIR, memwatch plot DIR.
        TEXT
      end

      def define_options(opts)
        @options.merge!(dir: "memwatch-host", interval: 5.0, pss_every: 12, max_bytes: 64 << 20, keep: 20)
        opts.on("--all", "record every process on the host (required)") { @options[:all] = true }
        opts.on("-o", "--output DIR", "log directory (default ./memwatch-host)") { |v| @options[:dir] = v }
        opts.on("-i", "--interval SECONDS", Float, "seconds between samples (default 5)") { |v| @options[:interval] = v }
        opts.on("--duration TIME", "stop after TIME (90s, 30m, 6h, 2d; default: until stopped)") { |v| @options[:duration] = duration_arg(v) }
        opts.on("--daemon", "run in the background; writes DIR/memwatch-record.pid") { @options[:daemon] = true }
        opts.on("--pidfile FILE", "pidfile (default DIR/memwatch-record.pid)") { |v| @options[:pidfile] = v }
        opts.on("--stop", "stop the background recorder of DIR") { @options[:stop] = true }
        opts.on("--pss-every N", Integer, "read PSS every N samples (default 12; it costs ~13 ms/GB)") { |v| @options[:pss_every] = v }
        opts.on("--max-bytes SIZE", "rotate the log at SIZE (default 64M)") { |v| @options[:max_bytes] = size_arg(v) }
        opts.on("--keep N", Integer, "rotated logs to keep (default 20)") { |v| @options[:keep] = v }
      end

      def execute(args)
        no_extra_args(args)
        return stop if @options[:stop]

        validate
        prepare_dir
        pidfile = acquire
        @options[:daemon] ? daemonize(pidfile) : record(pidfile)
      end

      def validate
        raise UsageError, "--all is required (record every process on the host)" unless @options[:all]
        raise UsageError, "--interval must be between 0.05 and 3600 seconds" unless (0.05..3600).cover?(@options[:interval])
        raise UsageError, "--pss-every must be at least 1" unless @options[:pss_every] >= 1
        raise UsageError, "--keep must be at least 1" unless @options[:keep] >= 1
        raise UsageError, "--daemon and --duration together: the daemon runs until --stop" if @options[:daemon] && @options[:duration]
      end

      def prepare_dir
        FileUtils.mkdir_p(@options[:dir])
        raise Error, "#{@options[:dir]}: directory not writable" unless File.writable?(@options[:dir])
      rescue SystemCallError => e
        raise Error, "#{@options[:dir]}: cannot create directory: #{e.message.sub(/ @ .*/, '')}"
      end

      def pidfile_path
        @options[:pidfile] || File.join(@options[:dir], "memwatch-record.pid")
      end

      def acquire
        Pidfile.new(pidfile_path).acquire
      rescue Pidfile::Busy => e
        raise Error, e.message
      rescue SystemCallError => e
        raise Error, "#{pidfile_path}: #{e.message.sub(/ @ .*/, '')}"
      end

      def recorder
        Memwatch::HostRecorder.new(dir: @options[:dir], interval: @options[:interval], pss_every: @options[:pss_every],
                                   max_bytes: @options[:max_bytes], keep: @options[:keep])
      end

      def record(pidfile)
        pidfile.write
        rec = recorder
        %w[INT TERM].each { |sig| trap(sig) { rec.stop } }
        err.puts "memwatch: recording every #{@options[:interval]}s to #{rec.path} (pid #{Process.pid}); stop with Ctrl-C or `memwatch record --stop -o #{@options[:dir]}`"
        ticks = rec.run(duration: @options[:duration])
        err.puts "memwatch: recorded #{ticks} samples to #{rec.path}"
        OK
      ensure
        pidfile.release
      end

      # The child detaches (setsid, stdio to /dev/null and DIR/memwatch-record.log) and keeps
      # the pidfile lock; the parent reports its pid once the pidfile names it.
      def daemonize(pidfile)
        child = fork do
          Process.setsid
          redirect_stdio
          record(pidfile)
          exit!(0)
        end
        Process.detach(child)
        wait_for_pidfile(child)
        out.puts "memwatch: recording in the background as pid #{child} to #{File.join(@options[:dir], Memwatch::HostRecorder::FILE_NAME)}"
        OK
      end

      def redirect_stdio
        $stdin.reopen(File::NULL)
        $stdout.reopen(File::NULL)
        $stderr.reopen(File.join(@options[:dir], "memwatch-record.log"), "a")
        $stderr.sync = true
        @out = $stdout
        @err = $stderr
      end

      def wait_for_pidfile(child)
        50.times do
          return if File.read(pidfile_path).to_i == child

          sleep 0.1
        end
        raise Error, "#{pidfile_path}: the background recorder did not start (see #{@options[:dir]}/memwatch-record.log)"
      end

      def stop
        pid = Pidfile.running(pidfile_path)
        unless pid
          out.puts "memwatch: no recorder running for #{@options[:dir]}"
          return OK
        end
        Process.kill("TERM", pid)
        wait_exit(pid)
        out.puts "memwatch: stopped recorder pid #{pid}"
        OK
      rescue Errno::EPERM
        raise Error, "#{pidfile_path}: not allowed to signal pid #{pid}"
      end

      def wait_exit(pid)
        100.times do
          Process.kill(0, pid)
          sleep 0.1
        end
        raise Error, "recorder pid #{pid} did not stop within 10s"
      rescue Errno::ESRCH
        nil
      end

      def duration_arg(text)
        m = /\A(\d+(?:\.\d+)?)([smhd]?)\z/.match(text) or raise OptionParser::InvalidArgument, text
        m[1].to_f * { "" => 1, "s" => 1, "m" => 60, "h" => 3600, "d" => 86_400 }[m[2]]
      end

      def size_arg(text)
        m = SIZE.match(text) or raise OptionParser::InvalidArgument, text
        m[1].to_i << { "" => 0, "k" => 10, "m" => 20, "g" => 30 }[m[2].downcase]
      end
    end
  end
end
