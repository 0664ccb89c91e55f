# frozen_string_literal: true

$LOAD_PATH.unshift File.expand_path("../lib", __dir__)
require "minitest/autorun"
require "tmpdir"
require "fileutils"

# Compaction is where TypedData bugs hide: move everything once at load and keep
# auto-compacting during the suite (as ruby/json's test helper does).
if ENV["MEMWATCH_COMPACT"] != "0"
  begin
    GC.verify_compaction_references(toward: :empty, double_heap: true)
    GC.auto_compact = true
  rescue NotImplementedError, ArgumentError
    # compaction unsupported on this platform/Ruby
  end
end
