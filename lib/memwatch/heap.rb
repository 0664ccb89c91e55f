# frozen_string_literal: true

module Memwatch
  # Heap-dump analysis: what an <tt>ObjectSpace.dump_all</tt> file holds (Heap.summary) and
  # which objects three dumps show retained (Heap.diff). The dump is streamed and parsed in
  # C (zlib + json-c, without the GVL), so memory stays bounded whatever its size; gzip'ed
  # dumps are read as they are. See doc/readme-heap.md.
  module Heap
    # Anything that stops an analysis; the CLI prints it as one line.
    class Error < StandardError; end

    # An unreadable, malformed or truncated dump. #path and #line (1-based; 0 when the file
    # could not be opened) say where.
    class FormatError < Error
      attr_reader :path, :line, :reason

      def initialize(path, line, reason)
        @path = path
        @line = line
        @reason = reason
        super(line.to_i.positive? ? "#{path}:#{line}: #{reason}" : "#{path}: #{reason}")
      end
    end

    # The cap on distinct keys (sites, classes, strings) per table: past it, objects are
    # counted as "lost" rather than growing memory without bound.
    MAX_KEYS = 1_000_000
    # Longest accepted line: the reader holds one line at a time. dump_all writes the
    # whole value of an ASCII String (a 100 MB string is a 100 MB line), and an Array of a
    # million references is a ~20 MB line.
    MAX_LINE_BYTES = 256 << 20

    autoload :Summary, "memwatch/heap/summary"
    autoload :Diff, "memwatch/heap/diff"
    autoload :Capture, "memwatch/heap/capture"
    autoload :Manifest, "memwatch/heap/manifest"

    module_function

    # call-seq:
    #   Memwatch::Heap.summary(path, since: nil, max_keys: MAX_KEYS, max_line_bytes: MAX_LINE_BYTES, threads: nil) -> Heap::Summary
    #
    # Objects and bytes (memsize) of a dump by type, class, generation and allocation site.
    # +since+ keeps only objects of that generation or newer (they need allocation tracing).
    # +threads+: json-c parser threads (default: the CPUs, at most 4; 0 parses inline).
    # Raises FormatError on bad input.
    def summary(path, since: nil, **limits)
      opts = options(limits).merge(since: since && Integer(since))
      Summary.new(path, call_native(:_heap_summary, readable(path), opts))
    end

    # call-seq:
    #   Memwatch::Heap.diff(a, b, c, generations: :auto, by_address: true, max_keys: MAX_KEYS, ...) -> Heap::Diff
    #
    # Objects born after dump +a+, alive in +b+ and still alive in +c+: the retained set,
    # grouped by allocation site and class. Objects with a generation (allocation tracing
    # was on) are matched by generation, which compaction does not change; the others by
    # address (+by_address: false+ ignores them).
    #
    # +generations+: the GC count when A and B were taken, [gen_a, gen_b]. +:auto+ reads
    # them from the manifests <tt>DUMP.manifest.json</tt> beside the dumps (written by
    # <tt>memwatch heap capture</tt>) and else infers them from the dumps; +nil+ always
    # infers. Raises FormatError on bad input.
    def diff(a, b, c, generations: :auto, by_address: true, **limits)
      paths = [a, b, c].map { |p| readable(p) }
      gens = generations == :auto ? Manifest.generations(paths) : generations
      gen_a, gen_b = gens && gens.map { |g| g && Integer(g) }
      opts = options(limits).merge(by_address: by_address ? true : false, gen_a: gen_a, gen_b: gen_b)
      Diff.new(paths, call_native(:_heap_diff, *paths, opts), source: gens&.compact&.size == 2 ? :manifest : :inferred)
    end

    def options(limits)
      unknown = limits.keys - %i[max_keys max_line_bytes threads]
      raise ArgumentError, "unknown option(s) #{unknown.join(", ")}" unless unknown.empty?
      { max_keys: MAX_KEYS, max_line_bytes: MAX_LINE_BYTES }.merge(limits.compact)
    end

    def readable(path)
      path = path.to_path if path.respond_to?(:to_path)
      path = String(path)
      raise FormatError.new(path, 0, "no such file") unless File.exist?(path)
      raise FormatError.new(path, 0, "is a directory") if File.directory?(path)
      raise FormatError.new(path, 0, "not readable") unless File.readable?(path)
      path
    end

    def call_native(name, *args)
      native = load_native
      result = native.__send__(name, *args)
      raise FormatError.new(result[:error_path], result[:error_line], result[:error]) if result[:error]
      result
    end

    def load_native
      require "memwatch/memwatch"
      Memwatch::Native
    rescue LoadError => e
      raise Error, "heap analysis needs the native extension (#{e.message}); run `rake compile` in a checkout"
    end
    private_class_method :options, :readable, :call_native, :load_native
  end
end
