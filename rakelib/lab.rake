# frozen_string_literal: true

# The leak lab (test/scenarios/): real leaking apps under a real Puma, judged by
# memwatch. Long; not part of `rake test` (test/test_scenarios.rb is the CI subset).
lab_script = File.expand_path("../test/scenarios/lab.rb", __dir__)
lab_deps = Rake::Task.task_defined?(:compile) ? [:compile] : []

desc "Leak lab: every scenario x {glibc, jemalloc} x {single, workers 2}, 5 min each " \
     "(40 runs, ~1 h 15 min at the default LAB_PARALLEL=3); writes doc/lab-results.md. " \
     "Env: see test/scenarios/lab.rb"
task lab: lab_deps do
  ruby lab_script
end

namespace :lab do
  desc "30-minute runs of the steady, garbage-only and warming-up apps under both allocators, " \
       "all at once (~32 min): memwatch must never claim a leak; writes doc/lab-results-long.md"
  task long: lab_deps do
    env = { "LAB_SCENARIOS" => "steady,garbage,cache,warmup", "LAB_DURATION" => "1800", "LAB_WORKERS" => "0",
            "LAB_STEP" => "60", "LAB_PARALLEL" => ENV.fetch("LAB_PARALLEL", "8"),
            "LAB_RESULTS" => File.expand_path("../doc/lab-results-long.md", __dir__) }
    sh(env, RbConfig.ruby, lab_script)
  end
end
