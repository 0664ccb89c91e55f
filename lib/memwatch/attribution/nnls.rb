# frozen_string_literal: true

module Memwatch
  class Attribution
    # Non-negative least squares (Lawson & Hanson, 1974) on the normal equations, for
    # the few dozen columns the ranking has: min |Ax - b| subject to x >= 0, with
    # standard errors from the unconstrained fit on the columns left free. Growth
    # cannot be negative per request (a route that frees what others kept is rare and
    # looks the same as noise), which is why the bound is there.
    module NNLS
      module_function

      # call-seq:
      #   NNLS.solve(rows, b) -> {x:, se:, rss:, dof:}
      #
      # +rows+: Array of Arrays (m × n), +b+: Array (m). Columns are scaled to unit
      # norm inside, so counts and seconds can sit side by side.
      def solve(rows, b)
        n = rows.first&.size.to_i
        return { x: [], se: [], rss: 0.0, dof: 0 } if n.zero?

        scale = (0...n).map { |j| Math.sqrt(rows.sum { |r| r[j].to_f**2 }).then { |s| s.positive? ? s : 1.0 } }
        a = rows.map { |r| r.each_with_index.map { |v, j| v.to_f / scale[j] } }
        g, c = gram(a, b)
        x, passive = lawson_hanson(g, c)
        rss = [b.sum { |v| v.to_f**2 } - 2 * dot(x, c) + dot(x, mul(g, x)), 0.0].max
        dof = [rows.size - passive.size, 1].max
        se = errors(g, passive, rss / dof, n)
        { x: x.each_with_index.map { |v, j| v / scale[j] }, se: se.each_with_index.map { |v, j| v && v / scale[j] },
          rss: rss, dof: dof }
      end

      def gram(a, b)
        n = a.first.size
        g = Array.new(n) { Array.new(n, 0.0) }
        c = Array.new(n, 0.0)
        a.each_with_index do |r, i|
          nz = (0...n).reject { |j| r[j].zero? }
          nz.each do |j|
            c[j] += r[j] * b[i]
            nz.each { |k| g[j][k] += r[j] * r[k] }
          end
        end
        [g, c]
      end

      def lawson_hanson(g, c, tol: 1e-10)
        n = c.size
        x = Array.new(n, 0.0)
        passive = []
        (3 * n + 10).times do
          w = sub(c, mul(g, x))
          j = ((0...n).to_a - passive).max_by { |k| w[k] }
          break if j.nil? || w[j] <= tol

          passive << j
          x = inner_loop(g, c, x, passive, tol)
        end
        [x, passive]
      end

      # Solves on the passive set; steps back toward feasibility while any goes <= 0.
      def inner_loop(g, c, x, passive, tol)
        loop do
          s = Array.new(x.size, 0.0)
          sol = solve_sub(g, c, passive) or (passive.pop; return x)
          passive.each_with_index { |j, i| s[j] = sol[i] }
          return s if passive.all? { |j| s[j] > tol }

          alpha = passive.select { |j| s[j] <= tol }.map { |j| x[j] / (x[j] - s[j]) }.min
          x = x.each_with_index.map { |v, j| v + alpha * (s[j] - v) }
          passive.reject! { |j| x[j] <= tol }
          passive.empty? and return x
        end
      end

      def solve_sub(g, c, idx)
        gauss(idx.map { |j| idx.map { |k| g[j][k] } }, idx.map { |j| c[j] })
      end

      # Standard errors: sqrt(sigma^2 * diag((G_PP)^-1)); nil for bound (zero) columns.
      def errors(g, passive, sigma2, n)
        se = Array.new(n)
        return se if passive.empty?

        sub = passive.map { |j| passive.map { |k| g[j][k] } }
        passive.each_with_index do |j, i|
          e = Array.new(passive.size, 0.0)
          e[i] = 1.0
          col = gauss(sub.map(&:dup), e) or next
          se[j] = Math.sqrt([col[i] * sigma2, 0.0].max)
        end
        se
      end

      # Gaussian elimination with partial pivoting; nil when singular.
      def gauss(m, v)
        n = v.size
        m = m.map(&:dup)
        v = v.dup
        n.times do |k|
          p = (k...n).max_by { |i| m[i][k].abs }
          return nil if m[p][k].abs < 1e-12

          m[k], m[p] = m[p], m[k]
          v[k], v[p] = v[p], v[k]
          (k + 1...n).each do |i|
            f = m[i][k] / m[k][k]
            (k...n).each { |jj| m[i][jj] -= f * m[k][jj] }
            v[i] -= f * v[k]
          end
        end
        x = Array.new(n, 0.0)
        (n - 1).downto(0) { |i| x[i] = (v[i] - (i + 1...n).sum { |jj| m[i][jj] * x[jj] }) / m[i][i] }
        x
      end

      def mul(g, x) = g.map { |row| dot(row, x) }
      def dot(a, b) = a.each_with_index.sum { |v, i| v * b[i] }
      def sub(a, b) = a.each_with_index.map { |v, i| v - b[i] }
    end
  end
end
