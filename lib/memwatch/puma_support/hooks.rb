# frozen_string_literal: true

module Memwatch
  module PumaSupport
    # Registers the plugin's worker hooks under the names the running Puma knows. Puma 7
    # renamed them (on_worker_boot -> before_worker_boot, on_stopped -> after_stopped; the
    # old names warn), so names are chosen by feature detection, not by version number.
    #
    # Why not from the plugin's config(dsl), the documented place: Puma (5.6 to 8.0)
    # calls `@options.shift` on the config file's option Hash before handing a plugin the
    # DSL, which silently drops the *first* setting of config/puma.rb (a `bind`, or
    # `workers`). So the plugin has no config method; its start hook, which runs in the
    # master after the configuration is final and before any worker forks, adds the hooks.
    module Hooks
      module_function

      # call-seq:
      #   Hooks.install_worker_hooks(launcher) -> nil
      #
      # Cluster mode only (Puma 8 warns about worker hooks in single mode; here the
      # worker count is final, CLI -w and WEB_CONCURRENCY included).
      def install_worker_hooks(launcher)
        config = launcher.config
        options = config.respond_to?(:_options) ? config._options : config.options
        worker_hooks(Puma::DSL.new(options.file_options, config))
        nil
      end

      def worker_hooks(dsl)
        boot = dsl.respond_to?(:before_worker_boot) ? :before_worker_boot : :on_worker_boot
        shutdown = dsl.respond_to?(:before_worker_shutdown) ? :before_worker_shutdown : :on_worker_shutdown
        dsl.public_send(boot) { |index, *| PumaSupport.boot_worker(index) }
        dsl.public_send(shutdown) { |index, *| PumaSupport.stop_worker(index) }
      end

      # call-seq:
      #   Hooks.after_stopped(events) { ... } -> nil
      def after_stopped(events, &block)
        name = events.respond_to?(:after_stopped) ? :after_stopped : :on_stopped
        events.public_send(name, &block) if events.respond_to?(name)
        nil
      end
    end
  end
end
