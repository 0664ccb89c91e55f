# frozen_string_literal: true

require "memwatch/host_recorder/procfs"

module Memwatch
  module CLI
    # The checks of `memwatch doctor`. Each returns a Check: :ok, :warn (memwatch works, with
    # less) or :fail (memwatch cannot work here), what was found, and the fix.
    module DoctorChecks
      Check = Struct.new(:name, :status, :detail, :fix, keyword_init: true)
      JEMALLOC = "/usr/lib/x86_64-linux-gnu/libjemalloc.so.2"
      GC_KEYS = %i[count major_gc_count heap_allocated_pages heap_live_slots heap_marked_slots old_objects
                   malloc_increase_bytes oldmalloc_increase_bytes].freeze
      Procfs = Memwatch::HostRecorder::Procfs

      module_function

      def ok(name, detail) = Check.new(name: name, status: :ok, detail: detail)
      def warn(name, detail, fix) = Check.new(name: name, status: :warn, detail: detail, fix: fix)
      def fail(name, detail, fix) = Check.new(name: name, status: :fail, detail: detail, fix: fix)

      def ruby
        return fail("ruby", "Ruby #{RUBY_VERSION} (#{RUBY_ENGINE})", "memwatch needs CRuby 3.1 or later") if RUBY_ENGINE != "ruby" || RUBY_VERSION < "3.1"

        ok("ruby", "CRuby #{RUBY_VERSION} #{RUBY_PLATFORM}")
      end

      def linux
        return ok("platform", "Linux, /proc mounted") if File.readable?("/proc/self/status")

        fail("platform", "#{RUBY_PLATFORM}: no readable /proc/self/status", "memwatch samples through Linux /proc; run on Linux with /proc mounted")
      end

      # Loads the full gem; everything below needs it.
      def extension
        require "memwatch"
        sample = Memwatch.sample
        return ok("extension", "native sampler loaded; a sample read RSS #{Format.bytes(sample[:rss_bytes])}") if sample[:rss_bytes].to_i.positive?

        warn("extension", "native sampler loaded but RSS read as #{sample[:rss_bytes].inspect}", "check that /proc/self/status is readable")
      rescue LoadError, StandardError => e
        fail("extension", "cannot load the native extension: #{e.message[0, 160]}",
             "reinstall the gem (gem pristine memwatch) with a compiler, ruby-dev, libjson-c-dev and zlib1g-dev installed")
      end

      def allocator
        return nil unless defined?(Memwatch.allocator_info)

        info = Memwatch.allocator_info
        case info[:name]
        when "jemalloc" then [ok("allocator", "jemalloc #{info[:version]} (#{info[:library]})"), jemalloc(info)]
        when "glibc"
          warn("allocator", "glibc malloc #{info[:version]} (mallinfo2: in-use and free bytes only, rate-limited)",
               "for allocator figures and native-leak profiles run the app with LD_PRELOAD=#{JEMALLOC}#{File.exist?(JEMALLOC) ? '' : ' (apt-get install libjemalloc2)'}")
        else
          warn("allocator", "unknown allocator: no allocator figures", "use glibc malloc or jemalloc (LD_PRELOAD=#{JEMALLOC})")
        end
      end

      def jemalloc(info)
        name = "jemalloc profiling"
        return warn(name, "jemalloc #{info[:version]} built without profiling", "use a jemalloc built with --enable-prof (Debian's libjemalloc2 is)") unless info[:prof_available]
        return warn(name, "jemalloc #{info[:version]}; profiling available but off", "start the app with MALLOC_CONF=prof:true,prof_active:false to allow native-leak profiles on demand") unless info[:prof_enabled]

        jeprof = which("jeprof") ? "jeprof installed" : "jeprof missing (apt-get install libjemalloc-dev) to read profiles"
        ok(name, "jemalloc #{info[:version]}, profiling enabled (active: #{info[:prof_active] ? 'yes' : 'no'}); #{jeprof}")
      end

      def proc_self
        missing = %w[/proc/self/status /proc/self/statm /proc/meminfo].reject { |f| File.readable?(f) }
        return fail("/proc", "not readable: #{missing.join(', ')}", "mount /proc (procfs) for this container") unless missing.empty?
        return ok("/proc", "status, statm, smaps_rollup (PSS/USS) and meminfo readable") if readable_content?("/proc/self/smaps_rollup")

        warn("/proc", "/proc/self/smaps_rollup not readable: no PSS/USS", "needs Linux 4.14 or later and a /proc without restrictions")
      end

      # record --all reads every process: other users' processes need root for PSS.
      def proc_others
        pids = Procfs.pids.reject { |p| p == Process.pid }
        seen = pids.count { |p| Procfs.process(p) }
        pss = pids.count { |p| Procfs.pss(p) }
        detail = "record --all sees #{seen} processes with memory; PSS readable for #{pss}" \
                 "#{pss < seen ? " (not for #{seen - pss}: other users' processes need root or CAP_SYS_PTRACE)" : ''}"
        hidden = File.read("/proc/mounts")[/^proc \/proc proc (\S+)/, 1].to_s.include?("hidepid")
        return warn("other processes", "#{detail}; /proc is mounted with hidepid", "run `memwatch record --all` as root to see every process") if hidden
        return warn("other processes", detail, "run `memwatch record --all` as root for every process's PSS") if pss < seen && !Process.uid.zero?

        ok("other processes", detail)
      rescue SystemCallError => e
        warn("other processes", "cannot list /proc: #{e.message}", "mount /proc")
      end

      def cgroup
        mem = Procfs.cgroup_memory
        return warn("cgroup", "no cgroup memory controller found", "cgroup usage and limit will be missing (fine outside containers)") unless mem[:cgroup_usage_bytes]
        return ok("cgroup", "usage #{Format.bytes(mem[:cgroup_usage_bytes])}, no limit (#{Procfs.cgroup_dir})") unless mem[:cgroup_limit_bytes]

        share = mem[:cgroup_usage_bytes].fdiv(mem[:cgroup_limit_bytes])
        detail = "usage #{Format.bytes(mem[:cgroup_usage_bytes])} of limit #{Format.bytes(mem[:cgroup_limit_bytes])} (#{(share * 100).round}%)"
        return warn("cgroup", detail, "close to the limit: the OOM killer is near; raise the limit or find the growth (memwatch top)") if share > 0.9

        ok("cgroup", detail)
      end

      def log_dir(dir)
        return warn("log directory", "none configured (MEMWATCH_LOG unset): samples are kept in memory only", "set MEMWATCH_LOG=log/memwatch (a directory) to keep a log per process") unless dir

        dir = File.dirname(dir) if dir.end_with?(".tsv")
        return fail("log directory", "#{dir} does not exist", "mkdir -p #{dir}") unless File.directory?(dir)
        return fail("log directory", "#{dir} is not writable by uid #{Process.uid}", "chown #{Etc.getpwuid(Process.uid)&.name} #{dir}") unless File.writable?(dir)

        ok("log directory", "#{dir} writable")
      end

      def gc_keys
        missing = GC_KEYS - GC.stat.keys
        page = GC::INTERNAL_CONSTANTS[:HEAP_PAGE_SIZE]
        return warn("GC.stat", "missing keys: #{missing.join(', ')}", "the classifier has less evidence on this Ruby") unless missing.empty? && page

        ok("GC.stat", "#{GC.stat.size} keys, including #{GC_KEYS.size} the classifier uses; heap page #{Format.bytes(page)}")
      end

      def gnuplot
        return ok("gnuplot", "found: memwatch plot can write PNG") if which("gnuplot")

        warn("gnuplot", "not installed: memwatch plot writes SVG only", "apt-get install gnuplot-nox for PNG output")
      end

      def which(cmd)
        ENV.fetch("PATH", "").split(File::PATH_SEPARATOR).map { |d| File.join(d, cmd) }.find { |f| File.executable?(f) }
      end

      def readable_content?(path)
        File.read(path, 16)
        true
      rescue SystemCallError
        false
      end
    end
  end
end
