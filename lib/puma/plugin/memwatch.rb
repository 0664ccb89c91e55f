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
# Not puma/dsl alone: Puma 5.6's dsl.rb needs configuration.rb's ConfigDefault, and
# Puma 8's configuration.rb needs puma.rb (Puma.mri?). Inside Puma all are loaded already.
require "puma"
require "puma/configuration"
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
