# frozen_string_literal: true

module Memwatch
  class HostRecorder
    # Appends rows to a memwatch log (doc/internals.md "The log"), one write per row so a
    # kill leaves whole lines. Resuming appends to an existing log with the same header
    # (dropping a torn last line); a different header, or reaching max_bytes, rotates
    # x.tsv to x.tsv.1 (keeping +keep+ files) and starts a new file with the header.
    class LogWriter
      attr_reader :path

      def initialize(path, columns:, metadata:, max_bytes: 64 * 1024 * 1024, keep: 20)
        @path = path
        @columns = columns
        @metadata = metadata
        @max_bytes = max_bytes
        @keep = keep
        @io = nil
      end

      # call-seq:
      #   writer.write(row) -> nil
      #
      # +row+ is a Hash keyed by column; missing keys are empty fields.
      def write(row)
        open unless @io
        line = @columns.map { |c| field(row[c]) }.join("\t") << "\n"
        @io.syswrite(line)
        rotate if @io.pos >= @max_bytes
        nil
      end

      def close
        @io&.close
        @io = nil
      end

      private

      def header
        meta = @metadata.map { |k, v| "# #{k}: #{v}\n" }.join
        "# memwatch log\n#{meta}#{@columns.join("\t")}\n"
      end

      def open
        rotate_file if File.exist?(@path) && !same_header?
        @io = File.open(@path, File::WRONLY | File::CREAT | File::APPEND, 0o644)
        drop_torn_line
        @io.syswrite(header) if @io.stat.size.zero?
        @io.seek(0, IO::SEEK_END)
      end

      def same_header?
        File.foreach(@path).find { |l| !l.start_with?("#") }&.chomp == @columns.join("\t")
      rescue SystemCallError, ArgumentError
        false
      end

      # A recorder killed mid-write leaves a line without "\n": cut it before appending.
      def drop_torn_line
        size = @io.stat.size
        return if size.zero?

        File.open(@path, "rb") do |f|
          f.seek([size - 65_536, 0].max)
          tail = f.read
          return if tail.end_with?("\n")

          cut = tail.rindex("\n")
          @io.truncate(cut ? size - tail.size + cut + 1 : 0)
        end
      end

      def rotate
        close
        rotate_file
      end

      def rotate_file
        File.delete("#{@path}.#{@keep}") if File.exist?("#{@path}.#{@keep}")
        (@keep - 1).downto(1) { |n| File.rename("#{@path}.#{n}", "#{@path}.#{n + 1}") if File.exist?("#{@path}.#{n}") }
        File.rename(@path, "#{@path}.1")
      end

      def field(value)
        case value
        when nil then ""
        when Float then format("%.3f", value)
        when String then value.tr("\t\n\r", "   ")
        else value.to_s
        end
      end
    end
  end
end
