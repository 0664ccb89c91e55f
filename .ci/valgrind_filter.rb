# frozen_string_literal: true

# Reads valgrind memcheck output and fails only on errors that involve
# memwatch's own code (a frame in memwatch.so), as ruby_memcheck does: Ruby
# itself is noisy under memcheck (conservative GC scanning reads
# uninitialised stack words), so a plain --error-exitcode would always fail.
#
# Usage: ruby .ci/valgrind_filter.rb VALGRIND_LOG...
errors = []
ARGV.each do |log|
  block = []
  File.foreach(log) do |line|
    text = line.sub(/\A==\d+== ?/, "").chomp
    if text.empty?
      errors << block.join("\n") if block.any? { |l| l.include?("memwatch.so") } &&
                                  !block.first.to_s.match?(/\A(HEAP|LEAK) SUMMARY|still reachable/)
      block = []
    else
      block << text
    end
  end
end
definite = errors.reject { |e| e.match?(/are (still reachable|possibly lost)/) }
if definite.empty?
  puts "valgrind: no errors in memwatch's code (#{ARGV.size} log#{"s" unless ARGV.size == 1})"
else
  puts definite
  puts "valgrind: #{definite.size} error(s) involve memwatch.so"
  exit 1
end
