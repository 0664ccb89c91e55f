# frozen_string_literal: true

require "zlib"

# Just enough PNG decoding (8-bit RGB/RGBA, non-interlaced, as Chromium writes them) to
# ask a screenshot what colours it shows.
class Png
  SIGNATURE = "\x89PNG\r\n\x1a\n".b

  attr_reader :width, :height

  def initialize(bytes)
    raise ArgumentError, "not a PNG" unless bytes.start_with?(SIGNATURE)
    idat = +"".b
    pos = 8
    while pos < bytes.bytesize
      len, type = bytes.unpack("@#{pos}Na4")
      data = bytes.byteslice(pos + 8, len)
      header(data) if type == "IHDR"
      idat << data if type == "IDAT"
      pos += 12 + len
    end
    @pixels = unfilter(Zlib::Inflate.inflate(idat))
  end

  # Number of pixels within +tolerance+ (per channel) of the "#rrggbb" colour.
  def count(hex, tolerance: 12)
    r, g, b = [hex].pack("H*").bytes
    px = @pixels
    n = 0
    i = 0
    while i < px.size
      n += 1 if (px[i] - r).abs <= tolerance && (px[i + 1] - g).abs <= tolerance && (px[i + 2] - b).abs <= tolerance
      i += @bpp
    end
    n
  end

  private

  def header(data)
    @width, @height, depth, color, _, _, interlace = data.unpack("NNCCCCC")
    raise ArgumentError, "unsupported PNG (depth #{depth}, colour #{color}, interlace #{interlace})" unless depth == 8 && [2, 6].include?(color) && interlace.zero?
    @bpp = color == 6 ? 4 : 3
  end

  # Scanline filters, one tight loop per type (this runs over every byte).
  def unfilter(raw)
    stride = @width * @bpp
    bpp = @bpp
    prev = Array.new(stride, 0)
    out = []
    @height.times do |y|
      filter = raw.getbyte(y * (stride + 1))
      line = raw.byteslice(y * (stride + 1) + 1, stride).unpack("C*")
      case filter
      when 0 then nil
      when 1 then (bpp...stride).each { |i| line[i] = (line[i] + line[i - bpp]) & 0xff }
      when 2 then stride.times { |i| line[i] = (line[i] + prev[i]) & 0xff }
      when 3 then stride.times { |i| line[i] = (line[i] + ((i >= bpp ? line[i - bpp] : 0) + prev[i]) / 2) & 0xff }
      when 4
        stride.times do |i|
          a = i >= bpp ? line[i - bpp] : 0
          c = i >= bpp ? prev[i - bpp] : 0
          line[i] = (line[i] + paeth(a, prev[i], c)) & 0xff
        end
      else raise ArgumentError, "bad PNG filter #{filter}"
      end
      out.concat(line)
      prev = line
    end
    out
  end

  def paeth(a, b, c)
    p = a + b - c
    pa = (p - a).abs
    pb = (p - b).abs
    pc = (p - c).abs
    return a if pa <= pb && pa <= pc
    pb <= pc ? b : c
  end
end
