# frozen_string_literal: true

$LOAD_PATH.unshift File.expand_path("../lib", __dir__)
require "minitest/autorun"
require "tmpdir"
require "fileutils"

# Compaction is where TypedData bugs hide, but Ruby 3.1's auto-compaction (a
# read barrier built on mprotect and SIGSEGV) is not safe with every extension
# a whole suite loads (puma, nio4r, zlib...): with it on suite-wide, a run
# dumped core inside GC, no memwatch frame on the crashing stack. So compaction is
# tested where the result speaks for memwatch alone: test_native_safety.rb
# compacts (explicitly and automatically) in a fresh Ruby that loads only
# memwatch, while sampling, classifying and encoding snapshots.
