# frozen_string_literal: true

require_relative "lib/memwatch/version"

Gem::Specification.new do |spec|
  spec.name = "memwatch"
  spec.version = Memwatch::VERSION
  spec.authors = ["memwatch developers"]
  spec.summary = "Tells why a long-running Ruby process keeps growing: a native sampler and a leak verdict"
  spec.description = <<~DESC
    memwatch samples process memory (RSS, anon/file, PSS/USS), allocator statistics
    (jemalloc through mallctl, found at run time, or glibc) and GC.stat counters from a
    native thread, writes a gc_tracer-style TSV log, and classifies growth: no leak,
    Ruby objects, Ruby-owned malloc, native, fragmentation, retention or outside the process.
  DESC
  spec.license = "MIT"
  spec.required_ruby_version = ">= 3.1"
  spec.metadata = { "changelog_uri" => "https://example.invalid/memwatch/CHANGELOG.md",
                    "rubygems_mfa_required" => "true" }

  spec.files = Dir.chdir(__dir__) do
    `git ls-files -z ext lib exe 2>/dev/null`.split("\x0") + %w[README.md CHANGELOG.md LICENSE]
  end.select { |f| File.file?(File.join(__dir__, f)) }
  spec.bindir = "exe"
  spec.executables = ["memwatch"]
  spec.require_paths = ["lib"]
  spec.extensions = ["ext/memwatch/extconf.rb"]
end
