# frozen_string_literal: true

module Memwatch
  # Restarts sampling in forked children (Puma/Unicorn workers, fork {}).
  #
  # Process._fork (Ruby 3.1+) is called by Kernel#fork, Process.fork and
  # IO.popen("-"). Process.daemon and C-level fork() bypass it; there the C
  # side still resets its state (pthread_atfork), so the child reports
  # running? == false instead of pretending, and Memwatch.start works again.
  #
  # memwatch's own short-lived children (heap walks, heap dumps) fork inside
  # Memwatch.internal_fork and are never restarted: they must not start a
  # sampler thread or open a log.
  module ForkHook
    def _fork
      pid = super
      Memwatch.__send__(:restart_in_child) if pid.zero? && !Thread.current[:memwatch_internal_fork]
      pid
    end
  end

  # call-seq: Memwatch.internal_fork { child code } -> pid
  #
  # fork for memwatch's own helpers: the child does not restart sampling.
  def self.internal_fork(&block)
    Thread.current[:memwatch_internal_fork] = true
    Process.fork(&block)
  ensure
    Thread.current[:memwatch_internal_fork] = nil
  end
  Process.singleton_class.prepend(ForkHook)
end
