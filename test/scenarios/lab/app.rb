# frozen_string_literal: true

require "json"
require "rack/utils"
require_relative "leaks"
require_relative "probe"

module LeakLab
  # The scenario app: one route per kind of growth (see Leaks), plus /ping and
  # /probe. Query parameters set the amount per request, with the defaults
  # below; each route also makes ?g= KiB of ordinary garbage. With ?pace=R the
  # leaking routes scale their amount (n, kb, p) so the leak runs at R x amount
  # per second of wall time whatever the request rate (Leaks.pace): the lab
  # then tests memwatch on a known, linear leak even on a starved machine.
  class App
    ROUTES = {
      "/garbage" => [{ "kb" => 200 }, ->(q) { Leaks.garbage(q["kb"]) }],
      "/cache" => [{ "keys" => 4000, "kb" => 16 }, ->(q) { Leaks.cache(q["keys"], q["kb"]) }],
      "/objects" => [{ "n" => 100 }, ->(q) { Leaks.objects(Leaks.chance(q["n"])) }],
      "/strings" => [{ "kb" => 10 }, ->(q) { Leaks.strings(q["kb"]) }],
      "/native" => [{ "kb" => 10 }, ->(q) { Leaks.native(q["kb"]) }],
      "/threads" => [{ "p" => 0.2, "depth" => 150 }, ->(q) { Leaks.threads(q["p"], q["depth"]) }],
      # fragment is paced by its own clock (size class and burst follow uptime)
      "/fragment" => [{ "kb" => 128, "keep" => 128, "period" => 8, "thread" => 1, "grow" => 120 },
                      ->(q) { Leaks.fragment(q["kb"], q["keep"], q["period"], q["thread"], q["grow"]) }],
      "/mixed" => [{ "n" => 40, "kb" => 10 },
                   ->(q) { Leaks.objects(Leaks.chance(q["n"])) + Leaks.native(q["kb"]) }],
      "/steady" => [{}, ->(_q) { 0 }]
    }.freeze
    PACED = %w[/objects /strings /native /threads /mixed].freeze
    SCALED = %w[n kb p].freeze
    LIMITS = { "pace" => 0..2000, "kb" => 0..65_536, "keys" => 1..10_000_000, "n" => 0..1_000_000,
               "keep" => 1..1_000_000, "period" => 0.1..3600, "p" => 0.0..1.0,
               "g" => 0..65_536, "thread" => 0..1,
               "depth" => 0..2000, "grow" => 1..86_400 }.freeze

    def call(env)
      Probe.ensure_running
      path = env["PATH_INFO"]
      return text(200, "ok\n") if path == "/ping"
      return probe(env) if path == "/probe"

      defaults, action = ROUTES[path]
      return text(404, "no such scenario: #{path}\n") unless action

      extra = { "g" => 20 }
      extra["pace"] = 0 if PACED.include?(path)
      q = params(env, defaults.merge(extra))
      Leaks.garbage(q["g"]) if q["g"].positive?
      q = paced(path, q) if q["pace"].to_i.positive?
      text(200, "#{action.call(q)}\n")
    rescue ArgumentError => e
      text(400, "#{e.message}\n")
    end

    private

    def paced(path, q)
      m = Leaks.pace(path, q["pace"])
      q.to_h { |k, v| [k, SCALED.include?(k) ? v * m : v] }
    end

    def probe(env)
      walk = Rack::Utils.parse_query(env["QUERY_STRING"].to_s)["walk"] == "1"
      [200, { "content-type" => "application/json" }, [JSON.generate(Probe.sample(walk: walk))]]
    end

    # Known keys only, numbers only, within LIMITS: a bad query gets a 400.
    def params(env, defaults)
      given = Rack::Utils.parse_query(env["QUERY_STRING"].to_s)
      unknown = given.keys - defaults.keys
      raise ArgumentError, "unknown parameter: #{unknown.first}" if unknown.any?

      defaults.to_h { |k, v| [k, number(k, given.fetch(k, v))] }
    end

    def number(key, raw)
      value = raw.is_a?(String) ? Float(raw) : raw
      value = value.to_i if value == value.to_i && !LIMITS[key].begin.is_a?(Float)
      raise ArgumentError, "#{key} must be in #{LIMITS[key]}, got #{raw}" unless LIMITS[key].cover?(value)

      value
    rescue TypeError
      raise ArgumentError, "#{key} must be a number, got #{raw.inspect}"
    end

    def text(status, body)
      [status, { "content-type" => "text/plain" }, [body]]
    end
  end
end
