# frozen_string_literal: true

require "mkmf"

# Only CRuby has the C API memwatch samples through; elsewhere, build nothing
# and let lib/memwatch.rb report the platform as unsupported.
if RUBY_ENGINE != "ruby" || !RUBY_PLATFORM.include?("linux")
  File.write("Makefile", dummy_makefile($srcdir).join)
  return
end

$CFLAGS << " -std=gnu99 -fvisibility=hidden"
# Warnings as errors only where we develop and in CI (bootsnap's BOOTSNAP_PEDANTIC).
$CFLAGS << " -Wall -Wextra -Werror -Wno-unused-parameter" if ENV["MEMWATCH_DEV"] == "1"
$CFLAGS << " -O0 -g3 -DRUBY_DEBUG=1" if ENV["MEMWATCH_DEBUG"] == "1"

def json_c_missing!
  abort <<~MSG
    memwatch needs the json-c library and its headers. Install them with:
      Debian/Ubuntu: sudo apt-get install libjson-c-dev
      Fedora/RHEL:   sudo dnf install json-c-devel
      macOS:         brew install json-c
    (or point to an install with --with-json-c-dir=PATH)
  MSG
end

dir_config("json-c")
found = pkg_config("json-c") && have_header("json-c/json.h")
found ||= have_header("json-c/json.h") && have_library("json-c", "json_object_new_object")
json_c_missing! unless found

# zlib reads gzip'ed heap dumps (memwatch heap).
unless have_header("zlib.h") && have_library("z", "gzopen")
  abort "memwatch needs zlib: apt-get install zlib1g-dev | dnf install zlib-devel | brew install zlib"
end

have_library("pthread")
have_library("dl", "dladdr") # jemalloc is found with dlsym at run time, never linked
have_func("pthread_setname_np", "pthread.h") # glibc 2.12+
have_func("mallinfo2", "malloc.h")            # glibc 2.33+

# _GNU_SOURCE (dladdr, pthread_setname_np) comes with ruby/config.h.
create_makefile("memwatch/memwatch")
