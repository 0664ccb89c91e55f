# frozen_string_literal: true

# Builds the leak lab's tiny native helper (test only, never shipped).
# test/scenarios/support.rb runs this in a scratch directory.
require "mkmf"

have_header("malloc.h")
have_func("mallinfo2", "malloc.h")   # glibc >= 2.33
have_func("malloc_trim", "malloc.h")
have_library("dl", "dlsym")
$CFLAGS << " -O2 -std=gnu99 -Wall"
create_makefile("leaklab")
