# frozen_string_literal: true

require "memwatch/heap"

module Memwatch
  module Heap
    # jemalloc heap profiles on demand: the native call stacks of the live (sampled)
    # allocations, for `jeprof`. The way to a culprit when the verdict is "native".
    module NativeProfile
      JEMALLOC = "/usr/lib/x86_64-linux-gnu/libjemalloc.so.2"
      HOWTO = "start the process with jemalloc preloaded and profiling on, e.g. " \
              "LD_PRELOAD=#{JEMALLOC} MALLOC_CONF=prof:true,lg_prof_sample:19 bundle exec puma " \
              "(Debian/Ubuntu: apt-get install libjemalloc2; jeprof is in libjemalloc-dev). " \
              "lg_prof_sample:19 records one allocation per 512 KiB allocated, on average: cheap " \
              "enough to leave on"

      # Profiling is not available in this process; the message says why and how to fix it.
      class Unavailable < Heap::Error; end

      module_function

      # call-seq:
      #   NativeProfile.status -> {available: true|false, allocator:, reason: String|nil}
      def status
        info = allocator_info
        reason = unavailable_reason(info)
        { available: reason.nil?, allocator: info[:name], reason: reason }
      end

      # call-seq:
      #   NativeProfile.dump(path) -> path
      #
      # Writes jemalloc's heap profile to +path+ (read it with
      # <tt>jeprof --text $(which ruby) PATH</tt>). Raises Unavailable, with how to enable
      # profiling, when this process cannot profile.
      def dump(path)
        path = File.expand_path(path.respond_to?(:to_path) ? path.to_path : String(path))
        reason = status[:reason]
        raise Unavailable, "no native heap profile: #{reason}; #{HOWTO}" if reason

        unless Memwatch::Native.respond_to?(:_prof_dump, true)
          raise Heap::Error, "this memwatch build lacks jemalloc profile support (ext/memwatch/jeprof.c)"
        end

        Memwatch::Native.__send__(:_prof_dump, path)
        path
      rescue SystemCallError => e
        raise Heap::Error, "jemalloc could not write the heap profile to #{path} (#{e.class.name.split("::").last})"
      end

      def unavailable_reason(info)
        return "this process runs #{info[:name]} malloc, not jemalloc" unless info[:name] == "jemalloc"
        return "this jemalloc was built without profiling (config.prof is false)" if info[:prof_available] == false
        return "jemalloc profiling is off (MALLOC_CONF has no prof:true)" unless info[:prof_enabled]
        return "jemalloc profiling is paused (prof.active is false)" if info[:prof_active] == false

        nil
      end

      def allocator_info
        return Memwatch.allocator_info if Memwatch.respond_to?(:allocator_info)

        require "memwatch/memwatch"
        Memwatch::Native.__send__(:_allocator_info)
      end
      private_class_method :unavailable_reason, :allocator_info
    end
  end

  # call-seq:
  #   Memwatch.native_profile(path) -> path
  #
  # Writes a jemalloc heap profile (native allocations by call stack) to +path+; read it
  # with <tt>jeprof --text $(which ruby) PATH</tt>. Needs jemalloc with
  # <tt>MALLOC_CONF=prof:true</tt>; raises Memwatch::Heap::NativeProfile::Unavailable
  # (a Memwatch::Heap::Error) saying how to enable it otherwise.
  def self.native_profile(path) = Heap::NativeProfile.dump(path)
end
