# frozen_string_literal: true

# Tasks for the `memwatch` command that do not belong in `rake test`.
namespace :test do
  desc "CLI tests that need a quiet host: real kernel-slab growth seen by record --all/top"
  task :cli_slow do
    sh({ "MEMWATCH_SLOW" => "1" }, RbConfig.ruby, "-Ilib", "-Itest", "test/test_cli_record.rb", "-v", "-n", "/slab|leaking/")
  end
end

namespace :plot do
  desc "Render the synthetic scenarios to tmp/plots (SVG, and PNG when gnuplot is installed) to look at"
  task :demo do
    $LOAD_PATH.unshift File.expand_path("../lib", __dir__)
    require_relative "../test/fixtures/logs/synth"
    require_relative "../test/fixtures/logs/synth_host"
    require "memwatch/cli"
    dir = File.expand_path("../tmp/plots", __dir__)
    FileUtils.mkdir_p(File.join(dir, "host"))
    logs = { "ruby_leak" => MemwatchSynth.ruby_leak(File.join(dir, "ruby_leak.tsv"), label: "worker-0"),
             "plateau" => MemwatchSynth.plateau(File.join(dir, "plateau.tsv"), label: "worker-1", pid: 4243),
             "native" => MemwatchSynth.native_leak(File.join(dir, "native.tsv"), label: "worker-2", pid: 4244) }
    MemwatchSynthHost.write(File.join(dir, "host"), n: 240, slab_mib_per_hour: 200, leak_mib_per_hour: 100)
    formats = system("which gnuplot > /dev/null 2>&1") ? %w[svg png] : %w[svg]
    formats.each do |fmt|
      logs.each { |name, log| Memwatch::CLI.run(["plot", log, "-o", File.join(dir, "#{name}.#{fmt}")]) }
      Memwatch::CLI.run(["plot", *logs.values, "-o", File.join(dir, "workers.#{fmt}")])
      Memwatch::CLI.run(["plot", File.join(dir, "host"), "-o", File.join(dir, "host.#{fmt}")])
    end
  end
end
