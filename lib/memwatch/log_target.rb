# frozen_string_literal: true

require "time"

module Memwatch
  # Where the periodic log goes, decided in Ruby before the sampler starts so
  # that a bad target is a clear error at start, not a warning later.
  #
  # log: option       file written
  #   nil             none
  #   "dir/" or an existing directory   dir/memwatch-<pid>.tsv (memwatch-<label>-<pid>.tsv)
  #   "path/x.tsv"    that file; a forked child writes path/x.<pid>.tsv
  #   an IO           that IO's fd (dup'ed); children do not log to it
  module LogTarget
    SCHEMA = 1

    module_function

    # call-seq: LogTarget.resolve(log, label:, child: false) -> [path_or_nil, io_or_nil]
    def resolve(log, label: nil, child: false)
      return [nil, nil] if log.nil?
      return [nil, child ? nil : log] if log.is_a?(IO)

      if log.end_with?("/") || File.directory?(log)
        unless File.directory?(log)
          raise ArgumentError, "memwatch: log directory #{log} does not exist (create it, or pass a file path)"
        end
        [File.join(log, file_name(label)), nil]
      else
        dir = File.dirname(log)
        raise ArgumentError, "memwatch: log directory #{dir} does not exist" unless File.directory?(dir)

        [child ? per_pid(log) : log, nil]
      end
    end

    def file_name(label)
      label ? "memwatch-#{label}-#{Process.pid}.tsv" : "memwatch-#{Process.pid}.tsv"
    end

    def per_pid(path)
      ext = File.extname(path)
      "#{path.delete_suffix(ext)}.#{Process.pid}#{ext}"
    end

    # The "# key: value" lines that open every log file (and every rotation).
    def preamble(config, allocator)
      meta = { "memwatch log" => nil, "pid" => Process.pid, "ppid" => Process.ppid,
               "ruby" => RUBY_VERSION, "allocator" => allocator, "memwatch" => VERSION,
               "schema" => SCHEMA, "interval" => config[:interval],
               "started" => Time.now.utc.iso8601 }
      meta["label"] = config[:label] if config[:label]
      meta.map { |k, v| v.nil? ? "# #{k}\n" : "# #{k}: #{v}\n" }.join
    end
  end
end
