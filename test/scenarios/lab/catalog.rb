# frozen_string_literal: true

module LeakLab
  # What each scenario does, the load that drives it (per serving process: a
  # cluster run multiplies rps by the worker count; leaking routes are paced at
  # that rate, see App) and the verdict memwatch
  # owes it (+also+: other kinds accepted, with the evidence). +evidence+:
  # groups ("a|b": any one) that must appear in the verdict's evidence, among
  # the series it says moved (classifier components: live, old, heap, alloc,
  # frag, overhead, other, threads, ...) or its ranked causes. +measured+:
  # what the lab's own probe must see for the scenario to be honest (see
  # Signature#check; about half the nominal rate, so a cluster worker that got
  # fewer requests still passes). Measured signatures: doc/signatures.md.
  Scenario = Struct.new(:name, :path, :rps, :expect, :evidence, :measured, :about, :also,
                        keyword_init: true) do
    def accepts?(kind)
      kind == expect || Array(also).include?(kind)
    end
  end

  CATALOG = [
    Scenario.new(name: "steady", measured: { "rss@late" => ..5 },
                 path: "/steady", rps: 100, expect: "none", evidence: [],
                 about: "20 KiB of garbage per request, nothing retained"),
    Scenario.new(name: "garbage", measured: { "rss@late" => ..5 },
                 path: "/garbage?kb=200", rps: 50, expect: "none", evidence: [],
                 about: "10 MB/s of short-lived strings and hashes, nothing retained"),
    Scenario.new(name: "cache", measured: { "alloc@delta" => 30.., "rss@late" => ..5 },
                 path: "/cache?keys=4000&kb=16", rps: 100, expect: "none", evidence: [],
                 about: "random-key cache, 4000 x 16 KiB: fills ~1.6 MB/s at first, " \
                        "95% full after ~2 min, then flat"),
    Scenario.new(name: "warmup", measured: { "alloc@delta" => 60.. },
                 path: "/cache?keys=30000&kb=8", rps: 100, expect: "none", also: ["insufficient_data"],
                 evidence: [],
                 about: "slow warm-up: random-key cache, 30000 x 8 KiB, 63% full after 5 min, 95% after " \
                        "15 min; still rising at the end of a 5-min run, so insufficient_data is honest " \
                        "there, but a leak claim is not"),
    Scenario.new(name: "objects", measured: { "live_slots" => 300.. },
                 path: "/objects?n=100&pace=100", rps: 100, expect: "ruby_objects",
                 evidence: ["live|old|heap"],
                 about: "retains 100 [Integer, String] pairs per request (~1 MB/s of heap pages)"),
    Scenario.new(name: "strings", measured: { "ruby_malloc|alloc" => 25.. },
                 path: "/strings?kb=10&pace=100", rps: 100, expect: "ruby_malloc",
                 evidence: ["alloc"],
                 about: "retains one 10 KiB string per request (1 MB/s of Ruby-owned malloc)"),
    Scenario.new(name: "native", measured: { "native" => 25.. },
                 path: "/native?kb=10&pace=100", rps: 100, expect: "native",
                 evidence: ["alloc"],
                 about: "C helper mallocs + memsets 10 KiB per request, never freed (1 MB/s)"),
    Scenario.new(name: "threads", measured: { "threads" => 500.. },
                 path: "/threads?p=0.2&depth=150&g=2&pace=100", rps: 100, expect: "native",
                 evidence: ["threads"],
                 about: "leaks a thread blocked 150 frames deep every 5th request (20 threads/s), little garbage"),
    Scenario.new(name: "fragment", measured: { "je_frag|gl_free" => 8.. },
                 path: "/fragment?kb=128&keep=128&period=8&thread=1&grow=120", rps: 50,
                 expect: "fragmentation", evidence: ["frag|overhead"],
                 about: "bursts of same-size strings (128 KiB, growing to 1 MiB over 14 min) in a " \
                        "short-lived thread, keep 1 in 128, size class moves every 8 s"),
    Scenario.new(name: "mixed", measured: { "native" => 25.., "live_slots" => 100.. },
                 path: "/mixed?n=20&kb=10&pace=100", rps: 100, expect: "mixed", also: ["native"],
                 evidence: %w[native ruby_objects],
                 about: "slow Ruby leak (20 pairs/request, ~0.3 MB/s) plus native leak (10 KiB/request, 1 MB/s); " \
                        "native with ruby_objects ranked second is accepted")
  ].to_h { |s| [s.name, s.freeze] }.freeze
end
