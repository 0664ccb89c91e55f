# frozen_string_literal: true

module Memwatch
  module Plot
    # Small SVG element helpers shared by the document and panel renderers.
    module SVGText
      private

      def text(x, y, str, size: nil, weight: nil, fill: nil, anchor: nil, cls: nil)
        attrs = +%(x="#{x.round(1)}" y="#{y.round(1)}")
        attrs << %( font-size="#{size}") if size
        attrs << %( font-weight="#{weight}") if weight
        attrs << %( fill="#{fill}") if fill
        attrs << %( text-anchor="#{anchor}") if anchor
        attrs << %( class="#{cls}") if cls
        "<text #{attrs}>#{esc(str)}</text>"
      end

      def dash(d)
        d ? %( stroke-dasharray="#{d}") : ""
      end

      def clip(str, max)
        str = str.to_s
        str.size > max ? "#{str[0, max - 1]}…" : str
      end

      def esc(str)
        str.to_s.gsub("&", "&amp;").gsub("<", "&lt;").gsub(">", "&gt;").gsub('"', "&quot;")
      end
    end
  end
end
