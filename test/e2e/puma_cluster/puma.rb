# frozen_string_literal: true

# Puma config for the end-to-end tests. Everything comes from the environment the test
# sets: PORT, WORKERS (0 = single mode), PRELOAD=1, MEMWATCH_TEST_LOG_DIR, CLUSTER_DIR.
bind "tcp://127.0.0.1:#{ENV.fetch("PORT")}"
workers Integer(ENV.fetch("WORKERS", "0"))
preload_app!(ENV["PRELOAD"] == "1")
threads 1, 4
worker_check_interval 1
worker_shutdown_timeout 5
rackup File.expand_path("config.ru", __dir__)

plugin :memwatch
memwatch interval: 0.2, pss_every: 2, log: "#{ENV.fetch("MEMWATCH_TEST_LOG_DIR")}/",
         cluster_dir: ENV.fetch("CLUSTER_DIR")
