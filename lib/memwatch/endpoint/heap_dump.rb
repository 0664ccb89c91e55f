# frozen_string_literal: true

require "io/wait"
require "json"
require "securerandom"
require "time"

module Memwatch
  module Endpoint
    # POST /heap_dump: ObjectSpace.dump_all in a forked child, so the worker pays only for
    # the fork (milliseconds) instead of the whole dump (~0.5 s of CPU per 1M objects,
    # competing with requests for the GVL, the requesting thread blocked throughout). The
    # child writes into an unlinked file in the private dump_dir; when it is done the
    # worker streams that file in 1 MiB chunks (reading a finished file rarely gives up the
    # GVL; relaying a live pipe does, at every read). The X-Memwatch-Manifest header
    # describes the dump (pid, Ruby, GC.stat, allocator, time).
    module HeapDump
      PARAMS = { gc: :bool, since: 0..(2**62), gzip: :bool }.freeze

      module_function

      def call(ctx)
        opts = options(ctx)
        headroom!(opts[:gc])
        lock = DumpLock.acquire(ctx.config.dump_dir, ctx.config.dump_cooldown)
        id = dump_id
        manifest = manifest(id, opts)
        job = DumpJob.new(ctx.config, opts, ctx.request.env)
        begin
          io, bytes = job.run(id)
        rescue StandardError, ScriptError
          lock.release(ran: job.forked?)
          raise
        end
        ctx.audit.merge!(id: id, bytes: bytes, gzip: opts[:gzip], fork_ms: job.fork_ms)
        respond(ctx, opts, io, bytes, manifest.merge(bytes: bytes, fork_ms: job.fork_ms), lock)
      end

      def options(ctx)
        p = ctx.params
        since!(p[:since]) if p[:since]
        gzip = p.fetch(:gzip, false)
        encoding = !p.key?(:gzip) && accepts_gzip?(ctx.request.env["HTTP_ACCEPT_ENCODING"])
        { gc: p.fetch(:gc, true), since: p[:since], gzip: gzip || encoding, content_encoding: encoding }
      end

      # Only objects allocated while tracing was on carry a generation: an earlier one
      # would silently dump nothing.
      def since!(since)
        started = Tracing.generation
        return if started && since >= started
        raise Refused.new(400, "since=#{since} needs allocation tracing (POST tracing/start) running since " \
                               "that generation#{" (it started at generation #{started})" if started}")
      end

      def accepts_gzip?(header)
        header.to_s.split(",").any? do |part|
          coding, q = part.strip.split(/\s*;\s*q=/i, 2)
          coding.casecmp?("gzip") && (q.nil? || q.to_f.positive?)
        end
      end

      # The child is a copy-on-write copy: every page either process writes is duplicated.
      # Under a cgroup limit, refuse (503) unless a quarter of the worker's anonymous memory
      # fits in the headroom, plus the Ruby heap with gc=1 (sweeping in the child dirties it).
      def headroom!(gc)
        s = Source.available? ? Source.latest : nil
        limit, usage, anon, heap = s&.values_at(:cgroup_limit_bytes, :cgroup_usage_bytes, :rss_anon_bytes, :ruby_heap_bytes)
        return unless limit && usage && anon
        need = anon / 4 + (gc ? heap.to_i : 0)
        return if limit - usage >= need
        raise Refused.new(503, "not enough memory headroom under the cgroup limit for a dump child " \
                               "(#{(limit - usage) >> 20} MiB free, #{need >> 20} MiB wanted)", "retry-after" => "60")
      end

      # "<UTC time>-<pid>-<random>": names dumps (and heap captures) apart across workers.
      def dump_id = "#{Time.now.utc.strftime("%Y%m%dT%H%M%SZ")}-#{Process.pid}-#{SecureRandom.hex(3)}"

      def manifest(id, opts)
        { id: id, pid: Process.pid, ppid: Process.ppid, ruby: RUBY_VERSION, platform: RUBY_PLATFORM,
          memwatch: Memwatch::VERSION, time: Time.now.utc.iso8601(3), generation: GC.count,
          gc_before_dump: opts[:gc], since: opts[:since], gzip: opts[:gzip],
          allocator: Source.available? ? Source.allocator_info : nil, gc_stat: GC.stat }
      end

      def respond(ctx, opts, io, bytes, manifest, lock)
        logger = ctx.config.logger
        body = DumpBody.new(io) do |sent, complete|
          lock.release
          logger.info("memwatch endpoint: heap dump #{manifest[:id]} streamed #{sent} of #{bytes} bytes" \
                      "#{" (client went away)" unless complete}")
        end
        [200, headers(opts, bytes, manifest), body]
      end

      def headers(opts, bytes, manifest)
        name = "heap-#{manifest[:id]}.ndjson#{".gz" if opts[:gzip] && !opts[:content_encoding]}"
        h = Response::SECURITY.merge(
          "cache-control" => "no-store, no-transform", "content-length" => bytes.to_s,
          "content-type" => opts[:gzip] && !opts[:content_encoding] ? "application/gzip" : "application/x-ndjson",
          "content-disposition" => %(attachment; filename="#{name}"), "etag" => %("#{manifest[:id]}"),
          "x-memwatch-pid" => Process.pid.to_s, "x-memwatch-manifest" => JSON.generate(manifest, ascii_only: true)
        )
        h.merge!("content-encoding" => "gzip", "vary" => "accept-encoding") if opts[:content_encoding]
        h
      end

      Endpoint.route("POST", "/heap_dump", params: PARAMS, feature: :dumps,
                                           title: "heap dump, taken in a forked child, streamed") { |ctx| call(ctx) }
    end
  end
end
