# frozen_string_literal: true

require_relative "../test_helper"
require_relative "lab/catalog"
require_relative "lab/judge"

# The classifier on saved logs of real leak-lab runs (test/scenarios/logs/):
# deterministic and fast, so a classifier change that breaks a real case shows
# up in `rake test` without running the lab. Same expectations as the lab.
class TestLabLogs < Minitest::Test
  LOGS = Dir[File.join(__dir__, "logs", "*.tsv.gz")].sort

  LOGS.each do |path|
    name = File.basename(path, ".tsv.gz")
    define_method("test_#{name.tr('-', '_')}") do
      scenario = LeakLab::CATALOG.fetch(name.split("-").first)
      outcome = LeakLab::Judge.new(scenario).judge(0, path)
      assert outcome.pass?, "#{name}: #{outcome.problems.join('; ')}\n#{outcome.verdict}timeline: " +
                            outcome.timeline.map { |t, k, l| "#{t}s #{k}#{"(#{l})" if l}" }.join(", ")
    end
  end

  def test_every_saved_log_is_here
    assert_operator LOGS.size, :>=, 9
  end
end
