# frozen_string_literal: true

# `plugin :memwatch` in config/puma.rb. Loading this file starts nothing: sampling
# starts in Puma's start hook (single process or master) and in each worker's boot hook.
#
#   # config/puma.rb
#   workers 2
#   preload_app!
#   plugin :memwatch
#   memwatch log: "log/memwatch/"          # optional: any Memwatch.start option
#
# See Memwatch::PumaSupport and doc/readme-puma.md.
require "puma/dsl"
require "puma/plugin"
require "memwatch/puma_support"

module Puma
  class DSL
    # call-seq:
    #   memwatch(**options)
    #
    # Options for `plugin :memwatch` (after the `plugin :memwatch` line): every
    # Memwatch.start option, plus cluster_dir:, reference_delay: and master:. Checked
    # here, so a typo stops the boot with a message.
    def memwatch(**options)
      Memwatch::PumaSupport::Settings.check_keys(options)
      @options[:memwatch] = (@options[:memwatch] || {}).merge(options)
    end
  end
end

# No config(dsl) method on purpose: see Memwatch::PumaSupport::Hooks.
Puma::Plugin.create do
  def start(launcher)
    Memwatch::PumaSupport.start(launcher)
  end
end
