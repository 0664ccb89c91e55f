# frozen_string_literal: true

# Builds bench/c/tick_probe.c as a bench-only Ruby extension (never shipped):
#   cd tmp/bench/ext && ruby /path/to/bench/c/extconf.rb && make
require "mkmf"
$srcs = ["tick_probe.c"]
$VPATH << __dir__
$CFLAGS << " -O2 -DTICK_PROBE_RUBY"
have_library("dl")
create_makefile("tick_probe")
