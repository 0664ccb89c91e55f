# frozen_string_literal: true

# The leak lab's command line (rake lab calls it). Settings come from the
# environment so rake can pass them through:
#   LAB_SCENARIOS   comma list (default: all, see lab/catalog.rb)
#   LAB_ALLOCATORS  glibc,jemalloc        LAB_WORKERS  0,2  (0 = single mode)
#   LAB_DURATION    seconds of load per run (300)
#   LAB_PARALLEL    runs at a time (3)    LAB_STEP     checkpoint spacing, s (30)
#   LAB_OUT         raw logs (tmp/lab)    LAB_RESULTS  markdown (doc/lab-results.md)
#   LAB_CLASSIFIER  classifier options as JSON, e.g. '{"suspect_window":60}' (default: none)
#   LAB_PUMA        pin Puma's version, e.g. 5.6.5 (default: the newest installed gem)
#   LAB_REJUDGE=1   run nothing: judge the runs saved under LAB_OUT again (after a
#                   classifier change); cells without a saved run are left out
# Exit status 0 unless LAB_STRICT=1 and a run failed.
require "json"
require_relative "lab/matrix"
require_relative "lab/report"

def lab_list(name, default)
  (ENV[name] || default).split(",").map(&:strip).reject(&:empty?)
end

root = File.expand_path("../..", __dir__)
names = lab_list("LAB_SCENARIOS", LeakLab::CATALOG.keys.join(","))
unknown = names - LeakLab::CATALOG.keys
abort "lab: unknown scenario(s) #{unknown.join(', ')} (known: #{LeakLab::CATALOG.keys.join(', ')})" if unknown.any?

opts = JSON.parse(ENV.fetch("LAB_CLASSIFIER", "{}"), symbolize_names: true)
meta = { date: Time.now.utc.strftime("%Y-%m-%d %H:%M UTC"), duration: Integer(ENV.fetch("LAB_DURATION", "300")),
         step: Integer(ENV.fetch("LAB_STEP", "30")), classifier_options: opts.empty? ? "" : opts.inspect,
         out: ENV.fetch("LAB_OUT", File.join(root, "tmp", "lab")), rejudged: ENV["LAB_REJUDGE"] == "1" }
cells = LeakLab::Matrix.product(names.map { |n| LeakLab::CATALOG.fetch(n) },
                                lab_list("LAB_ALLOCATORS", "glibc,jemalloc"),
                                lab_list("LAB_WORKERS", "0,2").map { |w| Integer(w) })
matrix = LeakLab::Matrix.new(cells, duration: meta[:duration], out: meta[:out],
                             parallel: Integer(ENV.fetch("LAB_PARALLEL", "3")),
                             classifier_options: opts, step: meta[:step],
                             rejudge: meta[:rejudged])
rows = matrix.run
puts LeakLab::Report.console(rows)
results = ENV.fetch("LAB_RESULTS", File.join(root, "doc", "lab-results.md"))
File.write(results, LeakLab::Report.markdown(rows, meta))
puts "wrote #{results}"
exit(ENV["LAB_STRICT"] == "1" && !rows.all?(&:pass?) ? 1 : 0)
