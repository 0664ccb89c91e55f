# frozen_string_literal: true

module Memwatch
  VERSION = "0.1.0"
end
