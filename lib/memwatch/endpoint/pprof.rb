# frozen_string_literal: true

require "tmpdir"
require "memwatch/heap/native_profile"
require "memwatch/endpoint/response"

module Memwatch
  module Endpoint
    # GET /pprof/heap: jemalloc's heap profile, as Go's pprof serves it, so that
    #
    #   jeprof --text $(which ruby) http://127.0.0.1:PORT/memwatch/pprof/heap
    #
    # names the native functions holding memory. A Rack app on its own (it does no access
    # control: mount it behind the endpoint's, as Pprof.register does) and the route
    # handler. Without profiling it answers 501 with how to enable it, never a 500.
    class Pprof
      TYPE = "text/plain; charset=us-ascii"

      # call-seq:
      #   Pprof.register -> routes
      #
      # Adds GET /pprof/heap to the endpoint, gated like heap dumps (feature :dumps: a token
      # and dumps: true). jeprof fetches with `curl -s --fail URL` and cannot send the
      # bearer token itself: give it one through curl's config, e.g.
      # <tt>CURL_HOME=dir</tt> with <tt>dir/.curlrc</tt> holding
      # <tt>header = "Authorization: Bearer TOKEN"</tt>.
      def self.register(handler = new)
        Endpoint.route("GET", "/pprof/heap", feature: :dumps, title: "jemalloc heap profile (jeprof)") do |ctx|
          handler.call(ctx.request.env)
        end
      end

      def initialize
        @lock = Mutex.new
      end

      # call-seq:
      #   pprof.call(env) -> [status, headers, body]
      def call(env)
        verb = env["REQUEST_METHOD"]
        return Response.error(405, "GET only", "allow" => "GET, HEAD") unless %w[GET HEAD].include?(verb)

        triple = profile
        verb == "HEAD" ? Response.strip_body(triple) : triple
      end

      private

      # One dump at a time: prof.dump is quick, and a queue of them helps nobody.
      def profile
        status = Heap::NativeProfile.status
        return Response.error(501, "no native heap profile: #{status[:reason]}; #{Heap::NativeProfile::HOWTO}") unless status[:available]

        @lock.synchronize { Response.build(200, TYPE, read_profile) }
      rescue Heap::Error => e
        Response.error(503, e.message)
      end

      # A private directory (0700): the profile names the process's libraries and paths.
      # Profiles are small (KiB to a few MiB), so the file is read whole and removed at once.
      def read_profile
        Dir.mktmpdir("memwatch-pprof-") do |dir|
          path = File.join(dir, "heap.prof")
          Heap::NativeProfile.dump(path)
          File.binread(path)
        end
      end
    end
  end
end
