# frozen_string_literal: true

require "zlib"
require "memwatch/log_reader/parse"

module Memwatch
  # The one parser of memwatch logs (doc/internals.md, "The log"). Pure Ruby: the CLI,
  # the classifier and tests read logs without the native extension.
  #
  #   reader = Memwatch::LogReader.new(["x.tsv.1", "x.tsv"])   # a rotated set, any order
  #   reader.metadata   # => {pid: 12345, ruby: "3.1.2", allocator: "glibc", interval: 1.0, ...}
  #   reader.each { |sample| sample[:rss_bytes] }   # streams; Symbol keys, typed values
  #   reader.warnings   # => ["x.tsv:812: truncated last line ignored (...)"]
  #
  # Values: Integer or Float for numbers, nil for an empty field (or NaN), String for the
  # text columns (STRING_COLUMNS). `.gz` files are read transparently.
  class LogReader
    include Enumerable

    # A log that cannot be read or parsed. #message is "FILE:LINE: reason" (LINE when known).
    class Error < StandardError
      attr_reader :file, :line, :reason

      def initialize(reason, file: nil, line: nil)
        @reason = reason
        @file = file
        @line = line
        where = [file, line].compact.join(":")
        super(where.empty? ? reason : "#{where}: #{reason}")
      end
    end

    ROTATED = /\A(?<base>.+?)\.(?<n>\d+)(?<gz>\.gz)?\z/.freeze

    class << self
      # call-seq:
      #   LogReader.read(paths) -> Array of Hash
      #
      # Every sample of one log (a file or a rotated set), oldest first.
      def read(paths)
        new(paths).to_a
      end

      # call-seq:
      #   LogReader.rotated_set(path) -> Array of String
      #
      # +path+ preceded by its rotated predecessors found on disk (x.tsv.2, x.tsv.1, x.tsv).
      def rotated_set(path)
        older = Dir.glob("#{escape_glob(path)}.[0-9]*").select { |p| rotation_of(p)&.first == path }
        order(older + [path])
      end

      # call-seq:
      #   LogReader.group(paths) -> Array of Array of String
      #
      # Groups files into logs: each rotated set becomes one entry, oldest file first.
      def group(paths)
        groups = Hash.new { |h, k| h[k] = [] }
        paths.each { |p| groups[(rotation_of(p)&.first || p)] << p }
        groups.values.map { |files| order(files.uniq) }
      end

      # call-seq:
      #   LogReader.rotation_of(path) -> [base, n] or nil
      def rotation_of(path)
        m = ROTATED.match(path) or return nil
        [m[:base], m[:n].to_i]
      end

      private

      # Rotation renames x.tsv to x.tsv.1, so a bigger suffix is older.
      def order(files)
        files.sort_by { |f| -(rotation_of(f)&.last || 0) }
      end

      def escape_glob(path)
        path.gsub(/[*?\[\]{}\\]/) { |c| "\\#{c}" }
      end
    end

    attr_reader :paths, :warnings

    # call-seq:
    #   LogReader.new(path_or_paths) -> reader
    #
    # Several paths must be one rotated set (x.tsv.1 x.tsv); they are read oldest first.
    def initialize(paths)
      @paths = self.class.send(:order, Array(paths).map(&:to_s))
      raise ArgumentError, "no log file given" if @paths.empty?

      @warnings = []
      @metadata = nil
      @columns = nil
    end

    # call-seq:
    #   reader.metadata -> Hash
    #
    # The `# key: value` lines of the first file (later files fill in missing keys).
    def metadata
      scan_headers unless @metadata
      @metadata
    end

    # call-seq:
    #   reader.columns -> Array of Symbol
    def columns
      scan_headers unless @columns
      @columns
    end

    # call-seq:
    #   reader.each { |sample| ... } -> reader
    #
    # Streams every sample of every file. Raises LogReader::Error on malformed input.
    def each(&block)
      return enum_for(:each) unless block

      @warnings.clear
      @paths.each { |path| parse_file(path, &block) }
      self
    end

    private

    def scan_headers
      @metadata = {}
      @paths.each do |path|
        each_line(path) do |line, _lineno|
          break unless line.start_with?("#")

          key, value = Parse.metadata(line)
          @metadata[key] = value if key && !@metadata.key?(key)
        end
      end
      @columns = []
      parse_file(@paths.first, headers_only: true) { nil }
    end

    # One file: `#` lines, a header, rows. A rotated or reopened log may repeat both.
    def parse_file(path, headers_only: false)
      header = nil
      each_line(path) do |line, lineno|
        next if line.empty? || line.start_with?("#")

        if header.nil? || line.start_with?("type\t")
          header = Parse.header(line, path, lineno)
          @columns = header if headers_only || @columns.nil?
          return if headers_only

          next
        end
        yield Parse.row(line, header, path, lineno)
      end
      return if header || headers_only

      raise Error.new(File.size?(path) ? "no header line (not a memwatch log?)" : "empty file", file: path)
    end

    # Yields chomped lines with their numbers. A last line without "\n" was cut by a
    # process killed mid-write: it is reported in #warnings and skipped, not an error.
    def each_line(path)
      io = open_log(path)
      lineno = 0
      while (raw = read_line(io, path, lineno + 1))
        lineno += 1
        unless raw.end_with?("\n")
          @warnings << "#{path}:#{lineno}: truncated last line ignored (writer killed mid-write?)"
          break
        end
        yield raw.chomp, lineno
      end
    ensure
      io&.close
    end

    def read_line(io, path, lineno)
      io.gets
    rescue Zlib::Error, SystemCallError => e
      raise Error.new("cannot read: #{e.message.sub(/ @ .*/, '')}", file: path, line: lineno)
    end

    def open_log(path)
      raise Error.new("is a directory, not a log file", file: path) if File.directory?(path)

      file = File.open(path, "rb")
      return file unless path.end_with?(".gz")

      begin
        Zlib::GzipReader.new(file)
      rescue Zlib::Error => e
        file.close
        raise Error.new("not gzip data (#{e.message})", file: path)
      end
    rescue SystemCallError => e
      raise Error.new("cannot read: #{e.message.sub(/ @ .*/, '')}", file: path)
    end
  end
end
