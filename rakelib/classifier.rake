# frozen_string_literal: true

# Slow checks of the leak classifier, kept out of `rake test`.
namespace :classifier do
  desc "Monte Carlo of the classifier on randomised synthetic series " \
       "(MEMWATCH_CLASSIFIER_SEEDS, default 20): detection time and false alarms"
  task :validate do
    env = { "MEMWATCH_CLASSIFIER_SEEDS" => ENV.fetch("MEMWATCH_CLASSIFIER_SEEDS", "20"),
            "MEMWATCH_CLASSIFIER_REPORT" => "1" }
    ruby "-Ilib", "-Itest", "test/test_classifier_validation.rb", "-v", env: env
  end

  desc "Time one classification of 1800 recent (1 s) + 2880 long (60 s) samples"
  task :bench do
    $LOAD_PATH.unshift File.expand_path("../lib", __dir__)
    require "memwatch/classifier"
    require_relative "../test/test_classifier_synth"
    %i[steady native].each do |scenario|
      all = ClassifierSynth.series(scenario, seed: 1, minutes: 48 * 60, rate: 0.01)
      cut = all.last[:tick] - 1800
      rows = all.each_with_index.select { |r, i| r[:tick] > cut || (i % 60).zero? }.map(&:first).last(4680)
      classifier = Memwatch::Classifier.new
      3.times { classifier.classify(rows) }
      ms = Array.new(15) do
        t = Process.clock_gettime(Process::CLOCK_MONOTONIC)
        classifier.classify(rows)
        (Process.clock_gettime(Process::CLOCK_MONOTONIC) - t) * 1000
      end.sort
      puts format("%-8s %d samples: median %.1f ms, best %.1f ms", scenario, rows.size, ms[7], ms[0])
    end
  end
end
