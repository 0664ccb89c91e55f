# frozen_string_literal: true

require "memwatch/log_reader"

module Memwatch
  module CLI
    # Turns LOG arguments (files, rotated sets, directories) into LogReaders: one reader per
    # log, where a log is a file plus its rotated predecessors (x.tsv.2 x.tsv.1 x.tsv).
    module LogArgs
      LOG_GLOB = "*.{tsv,tsv.gz,tsv.[0-9]*}"
      ATTRIBUTION = ".attribution.tsv"

      module_function

      # call-seq:
      #   LogArgs.readers(args) -> Array of LogReader
      #
      # A directory stands for every memwatch log in it. Raises LogReader::Error for a path
      # that does not exist or a directory without logs.
      def readers(args)
        files = args.flat_map { |arg| expand(arg) }
        LogReader.group(files).map { |set| LogReader.new(set) }
      end

      def expand(arg)
        if File.directory?(arg)
          found = Dir.glob(File.join(LogReader.send(:escape_glob, arg), LOG_GLOB)).sort
          found.reject! { |f| f.include?(ATTRIBUTION) } # the attribution sidecars have rows of another shape
          raise LogReader::Error.new("no memwatch logs (*.tsv) in this directory", file: arg) if found.empty?

          found
        elsif File.exist?(arg)
          LogReader.rotated_set(arg)
        else
          raise LogReader::Error.new("cannot read: No such file or directory", file: arg)
        end
      end

      # call-seq:
      #   LogArgs.title(reader) -> String
      #
      # A short name for a log in legends and tables: its label, else pid, else file name.
      def title(reader)
        meta = reader.metadata
        base = File.basename(reader.paths.last).sub(/\.tsv(\.gz)?\z/, "")
        return "#{meta[:label]} (#{meta[:pid]})" if meta[:label] && meta[:pid]

        meta[:label] || (meta[:pid] && "pid #{meta[:pid]}") || base
      end
    end
  end
end
