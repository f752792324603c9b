#include "server/admin.h"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/http/write.hpp>

#include <algorithm>

#include "limits/rules.h"
#include "server/worker.h"

namespace warden {

namespace net = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = net::ip::tcp;
constexpr auto kUseEc = net::as_tuple(net::use_awaitable);

namespace {

struct Admin {
  std::vector<std::unique_ptr<Worker>>& workers;
  Shared& shared;
};

// The in-process limit store, one line per key (`warden limits show`), in key order.
std::string limits_text(Admin& admin) {
  const auto config = admin.shared.snapshots.load();
  const limits::Settings& ls = config->limits;
  std::vector<std::pair<std::string, limits::State>> all;
  admin.shared.limits.visit(
      [&](std::string_view key, const limits::State& s) { all.emplace_back(key, s); });
  std::sort(all.begin(), all.end(), [](const auto& a, const auto& b) { return a.first < b.first; });
  const limits::Micros now = limits::wall_micros();
  std::string out;
  for (const auto& [key, state] : all) {
    if (const limits::Rule* rule = limits::rule_of_key(ls, key)) {
      out += limits::show_line(ls, *rule, key, state, now);
      out += '\n';
    }
  }
  return out;
}

// Per rule of the in-process store: what its most used key has left, and how many keys it
// counts (keys name principals and teams: they stay out of metrics). Read from the store when
// scraped, so requests pay nothing for it; with Redis, `warden limits show` reads Redis.
std::string limit_gauges(Admin& admin) {
  const auto config = admin.shared.snapshots.load();
  const limits::Settings& ls = config->limits;
  if (ls.empty() || ls.uses_redis()) return {};
  struct Seen {
    std::int64_t least = -1;
    std::int64_t keys = 0;
  };
  std::vector<Seen> seen(ls.rules.size());
  const limits::Micros now = limits::wall_micros();
  admin.shared.limits.visit([&](std::string_view key, const limits::State& s) {
    const limits::Rule* rule = limits::rule_of_key(ls, key);
    if (rule == nullptr) return;
    limits::State copy = s;
    const std::int64_t left = limits::reserve(rule->spec, copy, 0, now).remaining;
    Seen& x = seen[static_cast<std::size_t>(rule - ls.rules.data())];
    x.least = x.least < 0 ? left : std::min(x.least, left);
    ++x.keys;
  });
  std::string out =
      "# HELP warden_limit_remaining What the most used key of a limit rule has left (in its "
      "unit).\n# TYPE warden_limit_remaining gauge\n";
  std::string keys =
      "# HELP warden_limit_keys Keys a limit rule counts in the store.\n"
      "# TYPE warden_limit_keys gauge\n";
  for (std::size_t i = 0; i < ls.rules.size(); ++i) {
    const limits::Rule& r = ls.rules[i];
    const std::int64_t left = seen[i].least < 0 ? r.spec.amount : seen[i].least;
    std::string name;  // a label value: quotes and backslashes escaped
    for (const char c : r.name) {
      if (c == '"' || c == '\\') name += '\\';
      name += c;
    }
    out += "warden_limit_remaining{rule=\"" + name + "\"} " + limits::amount_text(r.measure, left) +
           "\n";
    keys += "warden_limit_keys{rule=\"" + name + "\"} " + std::to_string(seen[i].keys) + "\n";
  }
  return out + keys;
}

// Each worker copies its own metrics on its own thread; the copies are merged here.
net::awaitable<std::string> collect_metrics(Admin& admin) {
  Metrics total;
  for (auto& w : admin.workers) {
    Worker* worker = w.get();
    Metrics copy = co_await net::co_spawn(
        worker->ioc(), [worker]() -> net::awaitable<Metrics> { co_return worker->metrics(); },
        net::use_awaitable);
    total.merge(copy);
  }
  std::string text = total.render(admin.shared.reloads.load(), admin.shared.reload_failures.load());
  text += limit_gauges(admin);
  if (const audit::Writer* w = admin.shared.audit.get()) {
    text +=
        "# HELP warden_audit_committed_total Audit records committed.\n"
        "# TYPE warden_audit_committed_total counter\nwarden_audit_committed_total " +
        std::to_string(w->committed()) +
        "\n# HELP warden_audit_failures_total Failed audit commits (retried).\n"
        "# TYPE warden_audit_failures_total counter\nwarden_audit_failures_total " +
        std::to_string(w->failures()) +
        "\n# HELP warden_audit_queued Audit records waiting to be committed.\n"
        "# TYPE warden_audit_queued gauge\nwarden_audit_queued " +
        std::to_string(w->queued()) +
        "\n# HELP warden_audit_accepting 1 when the audit store accepts records.\n"
        "# TYPE warden_audit_accepting gauge\nwarden_audit_accepting " +
        (w->accepting() ? "1" : "0") +
        "\n# HELP warden_audit_checkpoints_total Signed audit checkpoints committed.\n"
        "# TYPE warden_audit_checkpoints_total counter\nwarden_audit_checkpoints_total " +
        std::to_string(w->checkpoints()) +
        "\n# HELP warden_audit_witness_failures_total Checkpoints a witness did not accept.\n"
        "# TYPE warden_audit_witness_failures_total counter\n"
        "warden_audit_witness_failures_total " +
        std::to_string(w->witness_failures()) + "\n";
  }
  co_return text;
}

net::awaitable<void> admin_session(Admin& admin, tcp::socket socket) {
  beast::tcp_stream stream(std::move(socket));
  beast::flat_buffer buffer;
  for (;;) {
    http::request<http::string_body> req;
    stream.expires_after(std::chrono::seconds(30));
    auto [ec, n] = co_await http::async_read(stream, buffer, req, kUseEc);
    if (ec) break;
    http::response<http::string_body> res;
    res.version(11);
    res.keep_alive(req.keep_alive());
    res.set(http::field::content_type, "text/plain; charset=utf-8");
    const std::string_view path = req.target();
    if (req.method() != http::verb::get) {
      res.result(http::status::method_not_allowed);
      res.body() = "method not allowed\n";
    } else if (path == "/healthz") {
      res.result(http::status::ok);
      res.body() = "ok\n";
    } else if (path == "/readyz") {
      const bool ready = !admin.shared.draining.load() && admin.shared.snapshots.load() != nullptr;
      res.result(ready ? http::status::ok : http::status::service_unavailable);
      res.body() = ready ? "ready\n" : "draining\n";
    } else if (path == "/audit/checkpoint") {
      // The newest signed checkpoint (docs/AUDIT.md), for auditors and monitors to keep.
      const audit::Writer* w = admin.shared.audit.get();
      const std::string cp = w ? w->latest_checkpoint() : std::string();
      res.result(cp.empty() ? http::status::not_found : http::status::ok);
      res.set(http::field::content_type, "application/json");
      res.body() = cp.empty() ? "{\"error\":\"no checkpoint yet\"}\n" : cp + "\n";
    } else if (path == "/limits") {
      res.result(http::status::ok);
      res.body() = limits_text(admin);
    } else if (path == "/metrics") {
      res.result(http::status::ok);
      res.set(http::field::content_type, "text/plain; version=0.0.4; charset=utf-8");
      res.body() = co_await collect_metrics(admin);
    } else {
      res.result(http::status::not_found);
      res.body() = "not found\n";
    }
    res.prepare_payload();
    auto [wec, wn] = co_await http::async_write(stream, res, kUseEc);
    if (wec || !res.keep_alive()) break;
  }
  boost::system::error_code ignored;
  stream.socket().shutdown(tcp::socket::shutdown_both, ignored);
}

net::awaitable<void> admin_accept(std::shared_ptr<Admin> admin,
                                  std::shared_ptr<tcp::acceptor> acc) {
  for (;;) {
    auto [ec, socket] = co_await acc->async_accept(kUseEc);
    if (ec) {
      if (!acc->is_open()) co_return;
      continue;
    }
    net::co_spawn(acc->get_executor(), admin_session(*admin, std::move(socket)), net::detached);
  }
}

}  // namespace

void start_admin(net::io_context& ioc, const std::string& host, const std::string& port,
                 std::vector<std::unique_ptr<Worker>>& workers, Shared& shared) {
  tcp::resolver resolver(ioc);
  const tcp::endpoint ep = *resolver.resolve(host, port).begin();
  auto acc = std::make_shared<tcp::acceptor>(ioc, ep, true);
  auto admin = std::make_shared<Admin>(Admin{workers, shared});
  net::co_spawn(ioc, admin_accept(admin, acc), net::detached);
}

}  // namespace warden
