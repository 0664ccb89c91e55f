# frozen_string_literal: true

module Memwatch
  # Restarts sampling in forked children (Puma/Unicorn workers, fork {}).
  #
  # Process._fork (Ruby 3.1+) is called by Kernel#fork, Process.fork and
  # IO.popen("-"). Process.daemon and C-level fork() bypass it; there the C
  # side still resets its state (pthread_atfork), so the child reports
  # running? == false instead of pretending, and Memwatch.start works again.
  module ForkHook
    def _fork
      pid = super
      Memwatch.__send__(:restart_in_child) if pid.zero?
      pid
    end
  end
  Process.singleton_class.prepend(ForkHook)
end
