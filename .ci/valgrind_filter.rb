# frozen_string_literal: true

# Reads valgrind memcheck logs and fails only on errors that belong to
# memwatch's own code, as ruby_memcheck does. Ruby itself is noisy under
# memcheck: its conservative GC reads uninitialised stack words, and memory
# owned by live Ruby objects at exit is reported as "definitely lost". So:
# - an invalid read/write, an uninitialised value, a bad free: ours when any
#   frame is in memwatch's C (by file name, or memwatch.so without symbols);
# - a leak: ours only when memwatch's C called the allocator directly (the
#   first frame after malloc/calloc/realloc), not when Ruby's API allocated
#   on our behalf (a Hash, a class, an exception message).
#
# Usage: ruby .ci/valgrind_filter.rb VALGRIND_LOG...
OUR_SOURCES = Dir[File.expand_path("../ext/memwatch/*.c", __dir__)].map { |f| File.basename(f) }
ALLOCATOR = /\b(malloc|calloc|realloc|memalign|posix_memalign|aligned_alloc|strdup|strndup)\b/

def ours?(frame)
  frame.include?("memwatch.so") || OUR_SOURCES.any? { |src| frame.include?("(#{src}:") }
end

def our_error?(block)
  frames = block.select { |l| l.match?(/\A\s+(at|by) 0x/) }
  return false if frames.empty?
  return frames.any? { |f| ours?(f) } unless block.first.include?("definitely lost")

  caller_frame = frames.drop_while { |f| f.match?(ALLOCATOR) || f.include?("vgpreload") }.first
  caller_frame && ours?(caller_frame)
end

errors = []
ARGV.each do |log|
  block = []
  File.foreach(log) do |line|
    text = line.sub(/\A==\d+== ?/, "").chomp
    if text.empty?
      errors << "#{log}:\n#{block.join("\n")}" if block.any? && our_error?(block)
      block = []
    else
      block << text
    end
  end
end
if errors.empty?
  puts "valgrind: no errors in memwatch's code (#{ARGV.size} log#{"s" unless ARGV.size == 1})"
else
  puts errors
  puts "valgrind: #{errors.size} error(s) in memwatch's code"
  exit 1
end
