# frozen_string_literal: true

require "memwatch/cli/format"

module Memwatch
  module Heap
    # Text rendering of Heap::Summary and Heap::Diff for `memwatch heap`.
    module Text
      extend CLI::Format

      module_function

      # call-seq: Text.summary(summary, top:, sort:) -> String
      def summary(s, top:, sort:)
        lines = ["#{s.path}: #{count(s.objects)} objects, #{bytes(s.bytes)} (memsize), #{count(s.roots)} roots"]
        lines << traced_line(s)
        lines << "#{count(s.lost)} objects past max_keys are not itemised" if s.lost.positive?
        lines.concat(table("By type", s.by_type(sort: sort, top: top), top, sort))
        lines.concat(table("By class", s.by_class(sort: sort, top: top), top, sort))
        lines.concat(generations(s.by_generation, top)) if s.traced?
        lines.concat(sites("By allocation site", s.by_site(sort: sort, top: top), top, sort)) if s.traced?
        lines.join("\n")
      end

      # call-seq: Text.diff(diff, top:, sort:) -> String
      def diff(d, top:, sort:)
        a, b, c = d.paths
        lines = ["A #{a}: #{count(d.objects[0])} objects", "B #{b}: #{count(d.objects[1])} objects",
                 "C #{c}: #{count(d.objects[2])} objects", "",
                 "Born after A and alive in B: #{count(d.allocated_count)} objects, #{bytes(d.allocated_bytes)}",
                 "Retained (of those, still alive in C): #{count(d.retained_count)} objects, " \
                 "#{bytes(d.retained_bytes)}#{d.identity == :none ? "" : " — matched by #{d.identity}"}"]
        lines.concat(sites("Retained by allocation site", d.retained(sort: sort, top: top), top, sort))
        d.caveats.each { |note| lines << "note: #{note}" }
        lines.join("\n")
      end

      def traced_line(s)
        return "no allocation sites: tracing was off when these objects were born " \
               "(POST /memwatch/tracing/start, or ObjectSpace.trace_object_allocations_start)" unless s.traced?

        "#{count(s.traced)} objects carry an allocation site (newest generation #{s.max_generation})"
      end

      def heading(title, top, sort) = ["", "#{title} (top #{top} by #{sort})", "     objects        bytes  name"]

      def table(title, rows, top, sort)
        heading(title, top, sort) + rows.map { |r| format("%12s %12s  %s", count(r.count), bytes(r.bytes), r.key) }
      end

      # The newest +top+ generations; older ones are summed on one line.
      def generations(rows, top)
        untraced, traced = rows.partition { |r| r.key.nil? }
        older = traced.size > top ? traced.first(traced.size - top) : []
        lines = ["", "By generation (GC count at birth; - = tracing off)", "     objects        bytes  generation"]
        (untraced + traced.last(top)).each { |r| lines << format("%12s %12s  %s", count(r.count), bytes(r.bytes), r.key || "-") }
        unless older.empty?
          lines.insert(untraced.size + 3, format("%12s %12s  %s", count(older.sum(&:count)), bytes(older.sum(&:bytes)),
                                                  "#{older.first.key}..#{older.last.key} (#{older.size} older)"))
        end
        lines
      end

      def sites(title, sites, top, sort)
        lines = heading(title, top, sort)
        lines[-1] = "     objects        bytes  file:line  (classes)"
        return lines + ["  (none)"] if sites.empty?

        lines + sites.map do |site|
          classes = site.classes.first(3).map { |c| "#{c.key} ×#{count(c.count)}" }.join(", ")
          more = site.classes.size > 3 ? ", …" : ""
          format("%12s %12s  %s  (%s%s)", count(site.count), bytes(site.bytes), site.location, classes, more)
        end
      end
    end
  end
end
