# frozen_string_literal: true

module Memwatch
  # The low-rate attribution log: a sidecar TSV beside the sample log
  # (memwatch-123.tsv -> memwatch-123.attribution.tsv), one row per ranked
  # route (the top TOP by retained bytes per request) once a minute.
  #
  # A file of its own rather than a second row type in the sample log:
  # that log has one fixed header, which is what lets gnuplot and
  # pandas read it as is; rows of another shape would break both. This one
  # reads the same way:
  #
  #   pandas.read_csv("memwatch-123.attribution.tsv", sep="\t", comment="#")
  #
  # Written from Ruby (the memwatch-gc thread, once a minute), one write
  # per minute in append mode, opened and closed each time: logrotate may
  # move it at will. It is rotated once (to .1) past the log's max bytes.
  module AttributionLog
    COLUMNS = %w[tick route requests retained_bytes_per_request retained_bytes_per_request_se
                 allocated_objects_per_request t confidence suspect].freeze
    SUFFIX = ".attribution.tsv"
    TOP = 5
    EVERY = 60.0

    module_function

    # call-seq:
    #   AttributionLog.path_for(log_path) -> String
    def path_for(log_path) = "#{log_path.to_s.sub(/\.tsv\z/, '')}#{SUFFIX}"

    # call-seq:
    #   AttributionLog.lines(report, time = Time.now.to_f) -> Array of String (each ends in "\n")
    #
    # No rows before the ranking has enough intervals or when no route was
    # seen: an empty minute says nothing.
    def lines(report, time = Time.now.to_f)
      return [] unless report["status"] == "ok"

      tick = format("%.3f", time)
      report["routes"].first(TOP).map do |r|
        values = [tick, clean(r["route"]), r["requests"], r["retained_bytes_per_request"],
                  r["retained_bytes_per_request_se"], r["allocated_objects_per_request"], r["t"],
                  r["confidence"], r["suspect"] ? 1 : 0]
        "#{values.map { |v| v.nil? ? '' : v }.join("\t")}\n"
      end
    end

    # Route keys come from requests: no TAB or newline may reach the log.
    def clean(text) = text.to_s.gsub(/[\t\r\n\\]/) { |c| format("\\x%02x", c.ord) }

    # call-seq:
    #   AttributionLog.write(report, log_path, max_bytes: nil) -> Integer (rows written)
    def write(report, log_path, max_bytes: nil)
      rows = lines(report)
      return 0 if rows.empty? || log_path.nil?

      path = path_for(log_path)
      rotate(path, max_bytes)
      File.open(path, File::WRONLY | File::APPEND | File::CREAT, 0o644) do |f|
        f.write(f.size.zero? ? header + rows.join : rows.join)
      end
      rows.size
    end

    def header
      "# memwatch attribution log: pid=#{Process.pid}; the top #{TOP} routes by retained bytes " \
        "per request, every #{EVERY.round} s (see Memwatch::Attribution)\n#{COLUMNS.join("\t")}\n"
    end

    def rotate(path, max_bytes)
      return unless max_bytes&.positive? && File.exist?(path) && File.size(path) > max_bytes

      File.rename(path, "#{path}.1")
    end

    # call-seq:
    #   AttributionLog.read(path) -> Array of Hash (symbol keys; numbers as numbers)
    #
    # Raises LogReader::Error (file and line) on a row that is not one of ours.
    def read(path)
      require "memwatch/log_reader"
      header = nil
      rows = []
      File.foreach(path).with_index(1) do |line, no|
        next if line.start_with?("#") || line.strip.empty?

        fields = line.chomp.split("\t", -1)
        if header
          rows << parse(fields, path, no)
        else
          header = fields
          raise LogReader::Error.new("not a memwatch attribution log (header #{fields.first(3).join(' ')}...)", file: path, line: no) unless header == COLUMNS
        end
      end
      rows
    end

    def parse(fields, path, no)
      raise LogReader::Error.new("#{fields.size} fields, expected #{COLUMNS.size}", file: path, line: no) unless fields.size == COLUMNS.size

      COLUMNS.zip(fields).to_h do |k, v|
        next [k.to_sym, v] if %w[route confidence].include?(k)

        num = v.empty? ? nil : Integer(v, exception: false) || Float(v, exception: false)
        raise LogReader::Error.new("#{k}: not a number: #{v[0, 40].inspect}", file: path, line: no) if num.nil? && !v.empty?

        [k.to_sym, num]
      end
    end
  end
end
