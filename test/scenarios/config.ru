# frozen_string_literal: true

# The leak lab's scenario app (see doc/signatures.md). Environment:
#   LEAKLAB_EXT_DIR   where support.rb built the native helper (leaklab.so)
#   LAB_PROBE_DIR     write the lab's own probe series there (one file per pid)
#   LAB_MEMWATCH=1    start memwatch; LAB_MEMWATCH_LOG (dir), LAB_MEMWATCH_INTERVAL (s)
$LOAD_PATH.unshift(ENV["LEAKLAB_EXT_DIR"]) if ENV["LEAKLAB_EXT_DIR"]
require "leaklab"
require_relative "lab/app"

if ENV["LAB_PROBE_DIR"]
  LeakLab::Probe.configure(ENV["LAB_PROBE_DIR"], interval: Float(ENV.fetch("LAB_PROBE_INTERVAL", "1")))
end

if ENV["LAB_MEMWATCH"] == "1"
  $LOAD_PATH.unshift(File.expand_path("../../lib", __dir__))
  require "memwatch"
  Memwatch.start(interval: Float(ENV.fetch("LAB_MEMWATCH_INTERVAL", "0.5")),
                 log: ENV.fetch("LAB_MEMWATCH_LOG"))
  map("/memwatch") { run Memwatch::App.new } if defined?(Memwatch::App)
end

map("/") { run LeakLab::App.new }
