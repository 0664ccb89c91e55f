# frozen_string_literal: true

require "fileutils"
require "json"

module Memwatch
  class Error < StandardError; end # (lib/memwatch.rb's; this file loads without the extension)

  module Cluster
    # The shared directory: one small JSON file per process (<label>-<pid>.json), written
    # to a temporary name and renamed, so a reader sees a whole old file or a whole new
    # one, never half of each. The directory is private to the app's user (mode 0700,
    # owned by us, not a symlink): the files hold the processes' figures and log paths,
    # and the relay's requests (cluster/relay.rb) must only come from the app itself.
    class Directory
      MAX_FILE = 256 * 1024 # a state file is ~3 KiB; anything bigger is not ours
      NAME = /\A(?<label>[A-Za-z0-9_.-]{1,64})-(?<pid>\d{1,10})\.json\z/.freeze

      attr_reader :path

      # call-seq:
      #   Directory.new(path) -> directory   (raises Memwatch::Error when unsafe)
      #
      # Creates +path+ with mode 0700 when missing (its parent too with +private_parent+),
      # and refuses one that another user owns, that others can use, or that is a symlink.
      def initialize(path, private_parent: false)
        unless path.is_a?(String) && !path.empty?
          raise Error, "memwatch cluster: the directory must be a non-empty String (got #{path.inspect})"
        end

        @path = File.expand_path(path)
        Directory.private_dir!(File.dirname(@path)) if private_parent
        Directory.private_dir!(@path)
      end

      # call-seq:
      #   Directory.private_dir!(path) -> path   (raises Memwatch::Error)
      def self.private_dir!(path)
        begin
          Dir.mkdir(path, 0o700)
        rescue Errno::EEXIST
          nil # someone made it: checked below
        end
        st = File.lstat(path)
        return path if st.directory? && st.owned? && (st.mode & 0o077).zero?

        raise Error, "memwatch cluster: #{path} must be a directory owned by uid #{Process.euid} with mode 0700 " \
                     "(it is #{st.directory? ? format("mode %o, uid %d", st.mode & 0o7777, st.uid) : st.ftype})"
      rescue SystemCallError => e
        raise Error, "memwatch cluster: cannot use #{path}: #{e.message}"
      end

      # call-seq:
      #   dir.file_for(label, pid) -> String
      def file_for(label, pid) = File.join(@path, "#{label}-#{pid}.json")

      # call-seq:
      #   dir.write(label, pid, document) -> path
      #
      # Atomic: a private temporary file, then rename(2) over the old one.
      def write(label, pid, document) = write_json(file_for(label, pid), document)

      # call-seq:
      #   dir.relay_box(label, pid, create: false) -> path of that process's relay inbox
      def relay_box(label, pid, create: false)
        box = File.join(@path, "relay", "#{label}-#{Integer(pid)}")
        if create
          Directory.private_dir!(File.dirname(box))
          Directory.private_dir!(box)
        end
        box
      end

      # call-seq:
      #   dir.write_json(path, document) -> path    (atomic, mode 0600)
      def write_json(path, document)
        tmp = "#{path}.#{Thread.current.object_id}.tmp"
        File.open(tmp, File::WRONLY | File::CREAT | File::TRUNC | File::NOFOLLOW, 0o600) do |f|
          f.write(JSON.generate(document))
        end
        File.rename(tmp, path)
        path
      rescue StandardError
        File.unlink(tmp) if tmp && File.exist?(tmp)
        raise
      end

      # call-seq:
      #   dir.entries -> Array of [label, pid, path]
      def entries
        Dir.children(@path).filter_map do |name|
          m = NAME.match(name) or next
          [m[:label], m[:pid].to_i, File.join(@path, name)]
        end
      rescue SystemCallError
        []
      end

      # call-seq:
      #   dir.read(path) -> Hash or nil
      #
      # nil for a file that vanished, is not a small regular file of ours, or is not a
      # JSON object: a reader never fails because of one bad file.
      def read(path)
        File.open(path, File::RDONLY | File::NOFOLLOW) do |f|
          st = f.stat
          return nil unless st.file? && st.owned? && st.size <= MAX_FILE

          doc = JSON.parse(f.read(MAX_FILE + 1), max_nesting: 16)
          doc.is_a?(Hash) ? doc : nil
        end
      rescue SystemCallError, IOError, JSON::ParserError, EncodingError
        nil
      end

      # call-seq:
      #   dir.remove(path) -> true | false
      def remove(path)
        File.unlink(path)
        true
      rescue SystemCallError
        false
      end

      # The master, at shutdown: removes every file, and the directory itself unless
      # the user chose it (+keep_dir+).
      # A worker still shutting down may publish between the sweep and the rmdir: sweep again.
      def destroy(keep_dir: false, tries: 3)
        Dir.children(@path).each { |name| FileUtils.remove_entry_secure(File.join(@path, name)) }
        Dir.rmdir(@path) unless keep_dir
        true
      rescue Errno::ENOTEMPTY
        (tries -= 1).positive? ? retry : false
      rescue SystemCallError, ArgumentError
        false
      end
    end
  end
end
