# frozen_string_literal: true

module Memwatch
  module Heap
    # One group of objects: +key+ is a type, class name or generation.
    Row = Struct.new(:key, :count, :bytes) do
      def to_h = { key: key, count: count, bytes: bytes }
    end

    # An allocation site (file:line, nil when tracing was off) and its classes, largest first.
    Site = Struct.new(:file, :line, :count, :bytes, :classes) do
      def location = file ? "#{file}:#{line}" : "(no allocation site: tracing was off)"

      def to_h
        { file: file, line: line, count: count, bytes: bytes, classes: classes.map(&:to_h) }
      end
    end

    # Sorting and rolling up the raw rows the C scan returns (in table order).
    module Rows
      SORTS = %i[bytes count].freeze

      module_function

      # call-seq:
      #   Rows.rows(raw_rows, sort: :bytes, top: nil) -> Array of Row
      def rows(raw, sort: :bytes, top: nil)
        cut(raw.map { |key, count, bytes| Row.new(key, count, bytes) }, sort, top)
      end

      # call-seq:
      #   Rows.sites(raw_site_rows, sort: :bytes, top: nil) -> Array of Site
      #
      # Raw rows are [file, line, class, count, bytes]; a Site sums its classes.
      def sites(raw, sort: :bytes, top: nil)
        groups = raw.group_by { |file, line| [file, line] }
        sites = groups.map do |(file, line), members|
          classes = rows(members.map { |m| m[2..4] }, sort: sort)
          Site.new(file, line, classes.sum(&:count), classes.sum(&:bytes), classes)
        end
        cut(sites, sort, top)
      end

      # Largest first; ties broken by the other measure, then the key, so output is stable.
      def cut(items, sort, top)
        raise ArgumentError, "sort must be one of #{SORTS.join(", ")}" unless SORTS.include?(sort)
        other = sort == :bytes ? :count : :bytes
        sorted = items.sort_by { |i| [-i[sort], -i[other], label(i)] }
        top ? sorted.first(top) : sorted
      end

      def label(item) = item.is_a?(Site) ? [item.file.to_s, item.line.to_i] : item.key.to_s
    end
  end
end
