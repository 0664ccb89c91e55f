# frozen_string_literal: true

require "io/wait"

module Memwatch
  module Cluster
    # The body of a relayed answer: what the target worker writes into the named pipe,
    # passed on chunk by chunk (the request thread waits without the GVL). Ends at EOF
    # (the target closed the pipe) or when the target stays silent for IDLE seconds.
    # #close (called by every Rack server) closes the pipe, so a target still writing
    # gets EPIPE and stops, and removes the relay's files.
    class RelayBody
      CHUNK = 1 << 20
      IDLE = 120.0

      def initialize(reader, &on_close)
        @reader = reader
        @on_close = on_close
      end

      def each
        loop do
          return unless @reader.wait_readable(IDLE)

          chunk = @reader.read_nonblock(CHUNK, exception: false)
          return if chunk.nil?
          next if chunk == :wait_readable

          yield chunk
        end
      end

      def close
        return if @reader.closed?

        @reader.close
        @on_close&.call
      end
    end
  end
end
