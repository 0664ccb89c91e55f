# frozen_string_literal: true

module Memwatch
  # Measures Ruby-owned malloc bytes — memory Ruby objects hold outside their
  # heap slots (String/Array/Hash bodies, ivar tables, T_DATA) — which no
  # cheap counter shows (DESIGN.md: "No cheap exact counter of Ruby-owned
  # malloc exists in release builds").
  #
  # Method: a forked child runs a full GC (so garbage is not counted), then
  # walks ObjectSpace summing ObjectSpace.memsize_of(obj) minus the object's
  # slot, and writes one line back over a pipe. The walk holds the child's
  # GVL for ~0.1-0.2 s per million objects; the serving process only pays for
  # the fork (a few ms, more for a big heap: page tables are copied) and the
  # copy-on-write of the pages the child's GC touches. memsize is a hint:
  # it counts capacity, and T_DATA reports what its dsize says.
  #
  # Nothing here blocks: #start forks and returns, #poll reads what arrived
  # (non-blocking) and reaps the child; a child that overruns +timeout+ is
  # killed and reaped. Never leaves zombies as long as #poll or #abort runs.
  class HeapWalk
    # What one walk measured, at +tick+ (when the fork happened).
    Result = Struct.new(:ruby_malloc_bytes, :objects, :memsize_bytes, :seconds, :tick, keyword_init: true)

    attr_reader :pid, :last_result, :last_error

    # call-seq:
    #   HeapWalk.new(timeout: 60, reporter: HeapWalk.default_reporter,
    #                measure: HeapWalk.method(:measure)) -> walk
    #
    # +reporter+ is called with the byte count of each successful walk (by
    # default it hands it to the sampler, so the next sample carries
    # ruby_malloc_bytes). +measure+ runs in the child and returns the Hash
    # #measure returns.
    def initialize(timeout: 60, reporter: self.class.default_reporter, measure: self.class.method(:measure))
      raise ArgumentError, "heap walk timeout must be positive, got #{timeout.inspect}" unless timeout.is_a?(Numeric) && timeout.positive?

      @timeout = timeout
      @reporter = reporter
      @measure = measure
      @pid = nil
    end

    # call-seq:
    #   walk.running? -> true or false
    def running?
      !@pid.nil?
    end

    # call-seq:
    #   walk.start -> true or false
    #
    # Forks the measuring child; false when one is still running or fork is
    # unavailable.
    def start
      return false if running? || !Process.respond_to?(:fork)

      reader, writer = IO.pipe
      @pid = fork_child(reader, writer)
      writer.close
      @reader = reader
      @buf = +""
      @started = now
      @tick = Time.now.to_f
      true
    rescue NotImplementedError, SystemCallError => e
      [reader, writer].each { |io| io&.close unless io&.closed? }
      @pid = nil
      @last_error = "heap walk: fork failed: #{e.message}"
      false
    end

    # call-seq:
    #   walk.poll -> Result or nil
    #
    # Non-blocking: the Result once the child has answered (and reports it),
    # nil while it is still working (or after a failure: see #last_error).
    def poll
      return nil unless running?

      drain
      return finish if @eof
      abort("timed out after #{@timeout} s") if now - @started > @timeout
      nil
    end

    # call-seq:
    #   walk.abort(reason = "aborted") -> nil
    #
    # Kills and reaps a running child.
    def abort(reason = "aborted")
      return nil unless running?

      begin
        Process.kill(:KILL, @pid)
        Process.wait(@pid)
      rescue Errno::ESRCH, Errno::ECHILD
        nil # already gone, or reaped by someone else
      end
      @last_error = "heap walk: #{reason}"
      cleanup
    end

    # call-seq:
    #   HeapWalk.default_reporter -> Proc
    #
    # Hands the bytes to the native sampler when there is one.
    def self.default_reporter
      lambda do |bytes|
        next unless defined?(Memwatch::Native) && Memwatch.respond_to?(:running?) && Memwatch.running?

        if Memwatch::Native.respond_to?(:_note_ruby_malloc)
          Memwatch::Native._note_ruby_malloc(bytes)
        elsif Memwatch.respond_to?(:sampler, true) && Memwatch.__send__(:sampler).respond_to?(:_note_ruby_malloc)
          Memwatch.__send__(:sampler)._note_ruby_malloc(bytes)
        end
      end
    end

    private

    def now
      Process.clock_gettime(Process::CLOCK_MONOTONIC)
    end

    # The child must not restart memwatch's sampler or log (the fork hook
    # checks this flag), must not run the app's at_exit handlers, and must
    # not flush the parent's buffered output: it leaves with exit!.
    def fork_child(reader, writer)
      Thread.current[:memwatch_internal_fork] = true
      Process.fork do
        status = 1
        begin
          reader.close
          r = @measure.call
          writer.write("#{r[:ruby_malloc_bytes]} #{r[:objects]} #{r[:memsize_bytes]} #{r[:seconds]}\n")
          writer.close
          status = 0
        ensure
          Process.exit!(status)
        end
      end
    ensure
      Thread.current[:memwatch_internal_fork] = nil
    end

    def drain
      loop do
        chunk = @reader.read_nonblock(4096, exception: false)
        case chunk
        when :wait_readable then return
        when nil then return @eof = true
        else
          @buf << chunk
          return abort("answer too long") if @buf.bytesize > 1024
        end
      end
    end

    def finish
      reap
      result = parse(@buf)
      cleanup
      return nil unless result

      @last_result = result
      @reporter&.call(result.ruby_malloc_bytes)
      result
    end

    # The child closed the pipe just before exit!: it is gone or going. Wait
    # (briefly: exit! does no work), tolerating someone else's waitpid(-1).
    def reap
      Process.wait(@pid)
    rescue Errno::ECHILD
      nil
    end

    def parse(line)
      fields = line.split
      unless fields.size == 4 && fields[0..2].all? { |f| f.match?(/\A\d+\z/) }
        @last_error = "heap walk: child failed (#{line.empty? ? 'no answer' : line.strip[0, 80]})"
        return nil
      end
      Result.new(ruby_malloc_bytes: fields[0].to_i, objects: fields[1].to_i, memsize_bytes: fields[2].to_i,
                 seconds: fields[3].to_f, tick: @tick)
    end

    def cleanup
      @reader&.close unless @reader&.closed?
      @reader = nil
      @pid = nil
      @eof = false
      nil
    end
  end
end

require_relative "heap_walk/measure"
