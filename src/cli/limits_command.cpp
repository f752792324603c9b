// `warden limits show` (limits_command.h). Control plane: it blocks, and reports errors itself.
#include "cli/limits_command.h"

#include <netdb.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <iostream>
#include <optional>
#include <string>

#include "config/config.h"
#include "limits/redis.h"
#include "limits/rules.h"

namespace warden::cli {
namespace {

// GET `path` from the admin listener; the body of a 200, or nullopt (`error` says why).
std::optional<std::string> admin_get(const ListenerConfig& at, const std::string& path,
                                     std::string& error) {
  addrinfo hints{};
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* res = nullptr;
  if (getaddrinfo(at.host.c_str(), at.port.c_str(), &hints, &res) != 0 || res == nullptr) {
    error = "cannot resolve the admin listener " + at.host + ":" + at.port;
    return std::nullopt;
  }
  const int fd = socket(res->ai_family, res->ai_socktype, res->ai_protocol);
  const bool connected = fd >= 0 && connect(fd, res->ai_addr, res->ai_addrlen) == 0;
  freeaddrinfo(res);
  if (!connected) {
    if (fd >= 0) close(fd);
    error = "no gateway answers on the admin listener " + at.host + ":" + at.port;
    return std::nullopt;
  }
  const std::string req =
      "GET " + path + " HTTP/1.1\r\nHost: " + at.host + "\r\nConnection: close\r\n\r\n";
  std::string reply;
  bool ok = send(fd, req.data(), req.size(), MSG_NOSIGNAL) == static_cast<ssize_t>(req.size());
  char buf[16384];
  for (ssize_t n; ok && (n = read(fd, buf, sizeof buf)) > 0;) reply.append(buf, n);
  close(fd);
  const std::size_t head_end = reply.find("\r\n\r\n");
  if (!ok || head_end == std::string::npos || reply.compare(0, 12, "HTTP/1.1 200") != 0) {
    error = "the admin listener did not answer " + path;
    return std::nullopt;
  }
  return reply.substr(head_end + 4);
}

}  // namespace

int run_limits_show(const std::string& config_path) {
  ConfigPtr config;
  try {
    config = load_config(config_path);
  } catch (const ConfigError& e) {
    for (const auto& d : e.diagnostics()) std::cerr << d.str() << "\n";
    return 1;
  }
  const limits::Settings& ls = config->limits;
  if (ls.empty()) {
    std::cout << "no limits configured\n";
    return 0;
  }
  if (!ls.uses_redis()) {
    if (!config->admin.enabled) {
      std::cerr << "limits show: the in-process store is read through the admin listener, "
                   "which this configuration disables\n";
      return 1;
    }
    std::string error;
    const auto body = admin_get(config->admin.listen, "/limits", error);
    if (!body) {
      std::cerr << "limits show: " << error << "\n";
      return 1;
    }
    std::cout << *body;
    return 0;
  }
  const limits::StoredStates stored = limits::read_redis_states(
      {ls.redis, ls.sentinels, ls.sentinel_master}, std::chrono::milliseconds(2000), ls);
  if (!stored.error.empty()) {
    std::cerr << "limits show: " << stored.error << "\n";
    return 1;
  }
  for (const auto& [key, state] : stored.states) {
    if (const limits::Rule* rule = limits::rule_of_key(ls, key))
      std::cout << limits::show_line(ls, *rule, key, state, stored.now) << "\n";
  }
  return 0;
}

}  // namespace warden::cli
