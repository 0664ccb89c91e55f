# frozen_string_literal: true

require "fiddle"

# Real native memory for tests: malloc'ed and touched through libc, outside
# Ruby's heap, the way a C extension's leak looks to the process.
module NativeMemory
  LIBC = Fiddle.dlopen(nil)
  MALLOC = Fiddle::Function.new(LIBC["malloc"], [Fiddle::TYPE_SIZE_T], Fiddle::TYPE_VOIDP)
  FREE = Fiddle::Function.new(LIBC["free"], [Fiddle::TYPE_VOIDP], Fiddle::TYPE_VOID)
  MEMSET = Fiddle::Function.new(LIBC["memset"], [Fiddle::TYPE_VOIDP, Fiddle::TYPE_INT, Fiddle::TYPE_SIZE_T],
                                Fiddle::TYPE_VOIDP)

  module_function

  # Allocates bytes in chunks and writes every page, so RSS really grows.
  def allocate(bytes, chunk: 1 << 20)
    Array.new(bytes / chunk) do
      ptr = MALLOC.call(chunk)
      MEMSET.call(ptr, 1, chunk)
      ptr
    end
  end

  def release(ptrs) = ptrs.each { |p| FREE.call(p) }
end
