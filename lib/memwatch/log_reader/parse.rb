# frozen_string_literal: true

module Memwatch
  class LogReader
    # Line parsing for LogReader: the header, typed rows and `# key: value` metadata.
    module Parse
      STRING_COLUMNS = %i[type verdict command label].freeze
      METADATA_TYPES = { pid: :int, ppid: :int, schema: :int, interval: :float }.freeze
      NAN = /\A[-+]?nan\z/i.freeze

      module_function

      def header(line, path, lineno)
        names = line.split("\t", -1)
        unless names[0] == "type" && names[1] == "tick"
          raise LogReader::Error.new('not a memwatch log: expected a header starting with "type<TAB>tick"', file: path, line: lineno)
        end
        raise LogReader::Error.new("empty column name in header", file: path, line: lineno) if names.any?(&:empty?)

        dup = names.group_by(&:itself).find { |_, v| v.size > 1 }
        raise LogReader::Error.new("duplicate column #{dup[0]} in header", file: path, line: lineno) if dup

        names.map(&:to_sym)
      end

      def row(line, header, path, lineno)
        fields = line.split("\t", -1)
        if fields.size != header.size
          raise LogReader::Error.new("expected #{header.size} fields, found #{fields.size}", file: path, line: lineno)
        end

        row = {}
        header.each_with_index { |name, i| row[name] = convert(name, fields[i], path, lineno) }
        row[:tick] = row[:tick].to_f if row[:tick]
        row
      end

      def convert(name, text, path, lineno)
        return text.empty? ? nil : text.dup.force_encoding(Encoding::UTF_8).scrub if STRING_COLUMNS.include?(name)
        return nil if text.empty? || NAN.match?(text)

        Integer(text, 10, exception: false) || (!text.match?(/x/i) && Float(text, exception: false)) ||
          raise(LogReader::Error.new("column #{name}: not a number: #{text[0, 40].inspect}", file: path, line: lineno))
      end

      def metadata(line)
        m = /\A#\s*([A-Za-z_][\w-]*)\s*:\s?(.*)\z/.match(line) or return nil
        key = m[1].tr("-", "_").to_sym
        value = m[2].strip.force_encoding(Encoding::UTF_8).scrub
        value = case METADATA_TYPES[key]
                when :int then Integer(value, 10, exception: false) || value
                when :float then Float(value, exception: false) || value
                else value
                end
        [key, value]
      end
    end
  end
end
