# frozen_string_literal: true

module Memwatch
  module Endpoint
    # The heap dump response body: the finished dump file read in 1 MiB chunks (Puma 5.6
    # iterates #each and ignores #to_path; 1 MiB reads were 1.6x faster than 64 KiB ones
    # under CPU contention). #close, which every Rack server calls, closes the file (its
    # space is freed: it has no name) and runs the callback once: it releases the dump
    # lock and logs what was sent. No #to_path on purpose: the file has no path, and
    # Rack::Sendfile must not hand a proxy a file that disappears on close.
    class DumpBody
      CHUNK = 1 << 20

      # call-seq:
      #   DumpBody.new(io) { |bytes_sent, complete| ... } -> body
      def initialize(io, &on_close)
        @io = io
        @on_close = on_close
        @sent = 0
        @complete = false
      end

      def each
        while (chunk = @io.read(CHUNK))
          @sent += chunk.bytesize
          yield chunk
        end
        @complete = true
      end

      def close
        return if @io.closed?
        @io.close
        @on_close&.call(@sent, @complete)
      end
    end
  end
end
