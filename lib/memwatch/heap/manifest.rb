# frozen_string_literal: true

require "json"

module Memwatch
  module Heap
    # The sidecar <tt>DUMP.manifest.json</tt>: the endpoint's X-Memwatch-Manifest header
    # (pid, Ruby, GC.stat, and "generation", the GC count when the dump was taken), saved
    # beside a dump by `memwatch heap capture`. The diff needs that GC count: a dump's own
    # newest generation is not it when the dumping child ran a GC of its own.
    module Manifest
      module_function

      # call-seq: Manifest.path(dump) -> String
      def path(dump) = "#{dump}.manifest.json"

      # call-seq: Manifest.write(dump, header_json) -> path | nil
      def write(dump, header)
        return nil if header.to_s.empty?

        JSON.parse(header) # only a valid manifest is kept
        File.write(path(dump), "#{header}\n", perm: 0o600)
        path(dump)
      rescue JSON::ParserError
        nil
      end

      # call-seq: Manifest.generations([a, b, c]) -> [gen_a, gen_b] | nil
      #
      # nil unless both A and B have a readable manifest with an Integer "generation".
      def generations(paths)
        gens = paths.first(2).map { |dump| generation(dump) }
        gens.all?(Integer) ? gens : nil
      end

      def generation(dump)
        file = path(dump)
        return nil unless File.file?(file)

        gen = JSON.parse(File.read(file))["generation"]
        gen.is_a?(Integer) && gen >= 0 ? gen : nil
      rescue JSON::ParserError, SystemCallError
        nil
      end
    end
  end
end
