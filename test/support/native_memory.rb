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

  MMAP = Fiddle::Function.new(LIBC["mmap"], [Fiddle::TYPE_VOIDP, Fiddle::TYPE_SIZE_T, Fiddle::TYPE_INT, Fiddle::TYPE_INT,
                                              Fiddle::TYPE_INT, Fiddle::TYPE_LONG], Fiddle::TYPE_VOIDP)
  MUNMAP = Fiddle::Function.new(LIBC["munmap"], [Fiddle::TYPE_VOIDP, Fiddle::TYPE_SIZE_T], Fiddle::TYPE_INT)
  PROT_RW = 0x3 # PROT_READ | PROT_WRITE
  MAP_PRIVATE_ANON = 0x22 # MAP_PRIVATE | MAP_ANONYMOUS (Linux)

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

  # Fresh anonymous pages straight from the kernel, touched. Unlike malloc,
  # this cannot be served from memory an earlier test freed but the
  # allocator kept resident, so RSS must grow by the full size.
  def map(bytes)
    ptr = MMAP.call(nil, bytes, PROT_RW, MAP_PRIVATE_ANON, -1, 0)
    raise "mmap failed" if ptr.to_i == -1 || ptr.null?

    MEMSET.call(ptr, 1, bytes)
    [ptr, bytes]
  end

  def unmap((ptr, bytes)) = MUNMAP.call(ptr, bytes)
end
