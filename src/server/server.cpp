#include "server/server.h"

#include <algorithm>
#include <csignal>

#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>

#include <cstdio>
#include <fstream>
#include <optional>
#include <sstream>
#include <thread>

#include "audit/open.h"
#include "common/json_writer.h"
#include "inspect/binding.h"
#include "server/admin.h"
#include "server/config_watch.h"
#include "server/jwks.h"
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

// The file's bytes, or nullopt when it cannot be read.
std::optional<std::string> read_bytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return std::nullopt;
  std::stringstream ss;
  ss << in.rdbuf();
  if (in.bad()) return std::nullopt;
  return ss.str();
}

// "https://host:port, http://host:port" for the log.
std::string describe(const std::vector<ClientListener>& listeners) {
  std::string out;
  for (const ClientListener& l : listeners) {
    if (!out.empty()) out += ", ";
    out += (l.tls ? "https://" : "http://") + l.address.host + ":" + l.address.port;
  }
  return out;
}

// Control plane: builds and validates the new snapshot from `bytes` (the file's content as read)
// on this thread, then publishes it. A rejected configuration is logged and the old snapshot
// keeps serving. The listeners' sockets are bound at start: a reload may replace their
// certificates but not their addresses, nor turn TLS on or off on one (each worker's i-th
// acceptor serves the snapshot's i-th listener).
void reload(Shared& shared, const std::string& path, const std::string& bytes,
            std::string_view why) {
  try {
    ConfigPtr next = load_config_text(bytes, path);
    const ConfigPtr current = shared.snapshots.load();
    if (describe(next->server.listeners) != describe(current->server.listeners)) {
      ++shared.reload_failures;
      log_event("error", "reload rejected: listeners changed (" + describe(next->server.listeners) +
                             "); restart to change them");
      return;
    }
    // New checkpoint settings are loaded here (a key that cannot be used rejects the reload) and
    // taken up by the audit thread.
    std::optional<audit::CheckpointOptions> checkpoints;
    if (shared.audit && audit::checkpoints_changed(current->audit, next->audit))
      checkpoints = audit::checkpoint_options(next->audit);
    shared.snapshots.publish(std::move(next));
    if (checkpoints) shared.audit->reconfigure(std::move(*checkpoints));
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
  // The request log goes to stdout and is often a pipe: a reader that goes away must not end the
  // gateway (write(2) then fails with EPIPE, which the log ignores). Sockets already send with
  // MSG_NOSIGNAL; this covers the log and anything else written to a pipe.
  std::signal(SIGPIPE, SIG_IGN);
  Shared shared;
  ConfigPtr config;
  const std::optional<std::string> first_bytes = read_bytes(options.config_path);
  try {
    if (!first_bytes) throw ConfigError({{options.config_path, 0, "cannot open file"}});
    config = load_config_text(*first_bytes, options.config_path);
  } catch (const ConfigError& e) {
    for (const auto& d : e.diagnostics()) std::fprintf(stderr, "%s\n", d.str().c_str());
    return 2;
  }
  for (const auto& w : config->warnings) log_event("warn", w);
  {
    // Without its key no id Warden handed out could be checked: the gateway does not start.
    std::string error;
    std::string key = inspect::load_binding_key(config->binding_key_file, error);
    if (key.empty()) {
      log_event("error", "binding key: " + error);
      return 2;
    }
    shared.binder = std::make_shared<const inspect::Binder>(std::move(key));
  }
  shared.snapshots.publish(config);
  if (config->audit.enabled) {
    std::string error;
    try {
      shared.audit = audit::open_writer(config->audit);
    } catch (const std::exception& e) {
      error = e.what();
    }
    if (!shared.audit || !shared.audit->start(error)) {
      log_event("error", "audit store: " + error);
      return 2;
    }
  }

  const unsigned n = config->server.workers != 0
                         ? config->server.workers
                         : std::max(1u, std::thread::hardware_concurrency());
  // Large bodies are inspected on a few threads of their own (half the cores, at most four):
  // bounded, so that inspection cannot take every core from the event loops.
  shared.inspect_pool = std::make_unique<net::thread_pool>(
      std::clamp(std::thread::hardware_concurrency() / 2, 1u, 4u));
  std::vector<std::unique_ptr<Worker>> workers;
  try {
    for (unsigned i = 0; i < n; ++i) {
      workers.push_back(std::make_unique<Worker>(shared, i));
      workers.back()->listen(config->server.listeners);
    }
  } catch (const std::exception& e) {
    log_event("error", "cannot listen on " + describe(config->server.listeners) + ": " + e.what());
    return 2;
  }

  net::io_context control;
  shared.jwks = std::make_shared<JwksFetcher>(control);  // before any worker runs
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
  log_event("info", "warden listening on " + describe(config->server.listeners) + " with " +
                        std::to_string(n) + " workers" +
                        (config->admin.enabled ? ", admin on http://" + config->admin.listen.host +
                                                     ":" + config->admin.listen.port
                                               : std::string()));

  // Reload on SIGHUP and when the file changes (polled: inotify misses editors that replace it;
  // a change is reloaded once two polls read the same bytes, see config_watch.h).
  ConfigWatch file(*first_bytes);
  net::signal_set hup(control, SIGHUP);
  std::function<void()> wait_hup = [&] {
    hup.async_wait([&](const boost::system::error_code& ec, int) {
      if (ec) return;
      if (const auto bytes = read_bytes(options.config_path)) {
        file.reloaded(*bytes);
        reload(shared, options.config_path, *bytes, "SIGHUP");
      } else {
        ++shared.reload_failures;
        log_event("error", "reload rejected: cannot read " + options.config_path);
      }
      wait_hup();
    });
  };
  wait_hup();
  net::steady_timer watch(control);
  std::function<void()> poll = [&] {
    watch.expires_after(std::chrono::milliseconds(250));
    watch.async_wait([&](const boost::system::error_code& ec) {
      if (ec) return;
      if (const auto bytes = file.poll(read_bytes(options.config_path)))
        reload(shared, options.config_path, *bytes, "file changed");
      poll();
    });
  };
  poll();

  // Limit entries idle for longer than any window hold nothing that still counts: dropped once a
  // minute so that keys of departed principals do not accumulate.
  net::steady_timer sweep(control);
  std::function<void()> sweep_limits = [&] {
    sweep.expires_after(std::chrono::seconds(60));
    sweep.async_wait([&](const boost::system::error_code& ec) {
      if (ec) return;
      const limits::Settings& ls = shared.snapshots.load()->limits;
      limits::Micros ttl = ls.lease;
      for (const limits::Rule& r : ls.rules) ttl = std::max(ttl, r.spec.window);
      shared.limits.expire(ttl, limits::wall_micros());
      sweep_limits();
    });
  };
  sweep_limits();

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
    sweep.cancel();
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
  // The audit writer commits what is still queued and runs the records' callbacks, which post
  // to the workers' executors: it flushes while those still exist. Destroying the workers then
  // destroys the coroutines cut at the end of the grace, each submitting its request's record
  // (without a callback); the writer commits those as it stops.
  if (shared.audit) {
    shared.audit->flush();
    shared.audit->close_callbacks();  // flush() gives up on a store that keeps failing
  }
  shared.inspect_pool.reset();  // joins: a scan in progress finishes first
  workers.clear();
  shared.jwks.reset();  // its timers belong to `control`
  shared.audit.reset();
  log_event("info", "stopped");
  return 0;
}

}  // namespace warden
