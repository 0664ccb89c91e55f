# frozen_string_literal: true

require_relative "test_helper"
require "memwatch"
require "rbconfig"

# The allocator is found at run time: jemalloc when the process allocates with
# it (here: LD_PRELOAD), glibc otherwise. Each case runs in a fresh process so
# the suite's own allocator does not matter.
class TestAllocator < Minitest::Test
  JEMALLOC = %w[/usr/lib/x86_64-linux-gnu/libjemalloc.so.2 /usr/lib/libjemalloc.so.2
                /usr/lib64/libjemalloc.so.2].find { |f| File.exist?(f) }
  ROOT = File.expand_path("..", __dir__)

  SCRIPT = <<~RUBY
    require "memwatch"
    require_relative #{File.join(__dir__, "support/native_memory").inspect}
    before = Memwatch.sample
    ptrs = NativeMemory.allocate(50 << 20)
    after = Memwatch.sample
    key = Memwatch.allocator == "jemalloc" ? :je_allocated_bytes : :glibc_in_use_bytes
    puts Memwatch.allocator
    puts after[key] - before[key]
    puts Memwatch.allocator_info[:prof_available].inspect
    puts Memwatch.columns.grep(/\\A(je|glibc)_/).join(",")
  RUBY

  def run_script(env)
    lib = $LOAD_PATH.grep(%r{/mwlib\z|memwatch/lib\z|#{Regexp.escape(ROOT)}/lib\z})
    args = lib.flat_map { |d| ["-I", d] } + ["-I", File.join(ROOT, "lib"), "-e", SCRIPT]
    out = IO.popen(env, [RbConfig.ruby, *args], err: %i[child out], &:read)
    assert $?.success?, out
    out.lines(chomp: true)
  end

  def test_jemalloc_preloaded
    skip "libjemalloc2 not installed" unless JEMALLOC
    name, grown, prof, cols = run_script("LD_PRELOAD" => JEMALLOC)
    assert_equal "jemalloc", name
    assert_operator grown.to_i, :>=, 48 << 20, "je_allocated_bytes follows malloc"
    assert_operator grown.to_i, :<, 60 << 20
    assert_includes %w[true false], prof
    assert_equal %w[je_allocated_bytes je_active_bytes je_resident_bytes je_mapped_bytes je_retained_bytes
                    je_metadata_bytes], cols.split(",")
  end

  def test_glibc_without_preload
    env = { "LD_PRELOAD" => nil }
    name, grown, _prof, cols = run_script(env)
    assert_equal "glibc", name
    assert_operator grown.to_i, :>=, 48 << 20, "glibc in-use bytes follow malloc"
    assert_equal %w[glibc_in_use_bytes glibc_free_bytes glibc_arena_bytes glibc_mmap_bytes glibc_releasable_bytes],
                 cols.split(",")
  end
end
