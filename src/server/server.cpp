#include "server/server.h"

#include <sys/stat.h>

#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>

#include <cstdio>
#include <thread>

#include "common/json_writer.h"
#include "server/admin.h"
#include "server/worker.h"

namespace warden {

namespace net = boost::asio;

namespace {

void log_event(std::string_view level, std::string_view message) {
  std::string line = R"({"level":)";
  append_json_string(line, level);
  line += R"(,"msg":)";
  append_json_string(line, message);
  line += "}\n";
  std::fputs(line.c_str(), stderr);
}

int64_t mtime_ns(const std::string& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) return -1;
  return static_cast<int64_t>(st.st_mtim.tv_sec) * 1'000'000'000 + st.st_mtim.tv_nsec;
}

// Control plane: builds and validates the new snapshot on this thread, then publishes it.
// A rejected configuration is logged and the old snapshot keeps serving.
void reload(Shared& shared, const std::string& path, std::string_view why) {
  try {
    ConfigPtr next = load_config(path);
    shared.snapshots.publish(std::move(next));
    ++shared.reloads;
    log_event("info", std::string("configuration reloaded (") + std::string(why) + ")");
  } catch (const ConfigError& e) {
    ++shared.reload_failures;
    for (const auto& d : e.diagnostics()) log_event("error", "reload rejected: " + d.str());
  } catch (const std::exception& e) {
    ++shared.reload_failures;
    log_event("error", std::string("reload rejected: ") + e.what());
  }
}

}  // namespace

int serve(const ServeOptions& options) {
  Shared shared;
  ConfigPtr config;
  try {
    config = load_config(options.config_path);
  } catch (const ConfigError& e) {
    for (const auto& d : e.diagnostics()) std::fprintf(stderr, "%s\n", d.str().c_str());
    return 2;
  }
  for (const auto& w : config->warnings) log_event("warn", w);
  shared.snapshots.publish(config);
  if (config->audit.enabled) {
    shared.audit = std::make_unique<audit::Writer>(
        config->audit.postgres.empty()
            ? audit::open_sqlite(config->audit.path, config->audit.strict)
            : audit::open_postgres(config->audit.postgres),
        config->audit.strict ? audit::Durability::kStrict : audit::Durability::kBatched,
        config->audit.instance, config->audit.max_buffer);
    std::string error;
    if (!shared.audit->start(error)) {
      log_event("error", "audit store: " + error);
      return 2;
    }
  }

  const unsigned n = config->server.workers != 0
                         ? config->server.workers
                         : std::max(1u, std::thread::hardware_concurrency());
  std::vector<std::unique_ptr<Worker>> workers;
  try {
    for (unsigned i = 0; i < n; ++i) {
      workers.push_back(std::make_unique<Worker>(shared, i));
      workers.back()->listen(config->server.listen.host, config->server.listen.port);
    }
  } catch (const std::exception& e) {
    log_event("error", std::string("cannot listen on ") + config->server.listen.host + ":" +
                           config->server.listen.port + ": " + e.what());
    return 2;
  }

  net::io_context control;
  if (config->admin.enabled) {
    try {
      start_admin(control, config->admin.listen.host, config->admin.listen.port, workers, shared);
    } catch (const std::exception& e) {
      log_event("error", std::string("cannot listen on admin address: ") + e.what());
      return 2;
    }
  }

  std::vector<std::thread> threads;
  for (auto& w : workers) threads.emplace_back([&w] { w->run(); });
  log_event("info", "warden listening on http://" + config->server.listen.host + ":" +
                        config->server.listen.port + " with " + std::to_string(n) + " workers" +
                        (config->admin.enabled ? ", admin on http://" + config->admin.listen.host +
                                                     ":" + config->admin.listen.port
                                               : std::string()));

  // Reload on SIGHUP and when the file changes (polled: inotify misses editors that replace it).
  net::signal_set hup(control, SIGHUP);
  std::function<void()> wait_hup = [&] {
    hup.async_wait([&](const boost::system::error_code& ec, int) {
      if (ec) return;
      reload(shared, options.config_path, "SIGHUP");
      wait_hup();
    });
  };
  wait_hup();
  int64_t last_mtime = mtime_ns(options.config_path);
  net::steady_timer watch(control);
  std::function<void()> poll = [&] {
    watch.expires_after(std::chrono::milliseconds(250));
    watch.async_wait([&](const boost::system::error_code& ec) {
      if (ec) return;
      const int64_t m = mtime_ns(options.config_path);
      if (m != last_mtime && m != -1) {
        last_mtime = m;
        reload(shared, options.config_path, "file changed");
      }
      poll();
    });
  };
  poll();

  // SIGTERM/SIGINT: stop accepting, close idle connections, let in-flight requests finish until
  // the grace deadline, then stop whatever is left.
  net::signal_set term(control, SIGTERM, SIGINT);
  net::steady_timer grace(control);
  std::thread joiner;
  term.async_wait([&](const boost::system::error_code& ec, int) {
    if (ec) return;
    log_event("info", "draining");
    shared.draining = true;
    for (auto& w : workers) w->drain();
    hup.cancel();
    watch.cancel();
    grace.expires_after(
        std::chrono::milliseconds(shared.snapshots.load()->server.shutdown_grace_ms));
    grace.async_wait([&](const boost::system::error_code& gec) {
      if (gec) return;
      log_event("warn", "grace period over: closing remaining connections");
      for (auto& w : workers) w->stop();
    });
    joiner = std::thread([&] {
      for (auto& t : threads) t.join();
      net::post(control, [&] { control.stop(); });
    });
  });
  control.run();
  if (joiner.joinable()) joiner.join();
  log_event("info", "stopped");
  return 0;
}

}  // namespace warden
