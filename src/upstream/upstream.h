// Upstream: sends a call to a model deployment over a pooled HTTP/1.1 connection (plain or TLS),
// with retries on the same deployment and failover to the next. Each worker owns one Pool.
// Untrusted input: the upstream's response head and body (bounded, parsed by Beast).
#pragma once

#include <boost/asio/awaitable.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/buffer_body.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/ssl/ssl_stream.hpp>

#include <array>
#include <chrono>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "catalog/catalog.h"
#include "common/result.h"

namespace warden {

struct Metrics;

namespace upstream {

namespace net = boost::asio;
namespace beast = boost::beast;
using Clock = std::chrono::steady_clock;

// What a request asks of an API object the upstream keeps (GET/DELETE /responses/{id}, POST
// /responses/{id}/cancel): the method and what follows the endpoint's path (`/{id}…?query`).
// The default is a new call: POST to the endpoint itself.
struct Target {
  std::string_view method = "POST";
  std::string_view suffix;
};

// One TCP or TLS connection to a provider.
struct Connection {
  const Provider* provider = nullptr;
  uint64_t generation = 0;
  std::shared_ptr<net::ssl::context> ssl;  // outlives the pool entry it came from (reloads)
  std::unique_ptr<beast::tcp_stream> plain;
  std::unique_ptr<beast::ssl_stream<beast::tcp_stream>> tls;
  beast::flat_buffer buffer;
  bool reused = false;

  beast::tcp_stream& tcp() { return tls ? beast::get_lowest_layer(*tls) : *plain; }
};

// Lets the request path abandon an exchange whose client has gone: the connection in use is
// cancelled (its pending operation fails at once and it is closed, not pooled) and no further
// attempt is made. Single-threaded: used on the worker that owns the request.
struct Cancel {
  bool cancelled = false;
  Connection* active = nullptr;
  void cancel();
};

class Pool {
 public:
  explicit Pool(net::io_context& ioc) : ioc_(ioc) {}
  // Drops idle connections of an older configuration; connections in use are closed on release.
  void set_generation(uint64_t generation);
  uint64_t generation() const { return generation_; }

  net::awaitable<Result<std::unique_ptr<Connection>>> acquire(const Provider& provider);
  void release(std::unique_ptr<Connection> conn);
  size_t idle_count() const;

  // Fault injection for tests: runs after a new connection's name is resolved, before it
  // connects (e.g. a reload that drops every entry of the pool at that moment).
  void set_resolved_hook(std::function<void()> hook) { resolved_hook_ = std::move(hook); }

 private:
  struct Entry {
    std::vector<std::unique_ptr<Connection>> idle;
    std::shared_ptr<net::ssl::context> ssl;
  };
  Result<std::shared_ptr<net::ssl::context>> ssl_context(const Provider& provider);

  net::io_context& ioc_;
  uint64_t generation_ = 0;
  // Entries are dropped whole when the configuration changes (set_generation), also while a
  // coroutine is suspended in acquire(): nothing may hold a reference to one across co_await.
  std::unordered_map<const Provider*, Entry> entries_;
  std::function<void()> resolved_hook_;
};

// An exchange whose response head has arrived; the body is read through it.
class Exchange {
 public:
  // User-provided so that make_unique does not zero the 16 KiB buffer on every request.
  Exchange() {}  // NOLINT(modernize-use-equals-default)

  int status() const { return status_; }
  std::string_view content_type() const { return content_type_; }
  bool is_event_stream() const;
  // The next piece of the body as it arrives; an empty view marks its end.
  net::awaitable<Result<std::string_view>> read_some();
  // The whole body, refused beyond `limit` bytes.
  net::awaitable<Result<std::string>> read_all(uint64_t limit);
  // Gives the connection back to the pool when the body was read whole and it may be reused;
  // closes it otherwise (e.g. the client went away mid-stream).
  void finish(Pool& pool);
  void set_cancel(Cancel* cancel) { cancel_ = cancel; }

 private:
  friend net::awaitable<Result<std::unique_ptr<Exchange>>> send_once(
      Pool&, const Deployment&, CallKind, std::string_view, std::string_view, Clock::time_point,
      Cancel*, std::string_view, const Target&);
  std::unique_ptr<Connection> conn_;
  beast::http::response_parser<beast::http::buffer_body> parser_;
  int status_ = 0;
  std::string content_type_;
  Clock::time_point deadline_;
  std::chrono::milliseconds idle_{0};
  bool keep_alive_ = false;
  Cancel* cancel_ = nullptr;
  std::array<char, 16 * 1024> buf_;  // NOLINT: filled by reads, never zeroed
};

// One attempt: connect (or reuse), send, read the response head. `extra_head`: header lines
// (each ending in CRLF) the request path checked, e.g. the client's anthropic-version.
net::awaitable<Result<std::unique_ptr<Exchange>>> send_once(
    Pool& pool, const Deployment& deployment, CallKind kind, std::string_view body,
    std::string_view request_id, Clock::time_point deadline, Cancel* cancel = nullptr,
    std::string_view extra_head = {}, const Target& target = {});

struct Forwarded {
  std::unique_ptr<Exchange> exchange;
  const Deployment* deployment = nullptr;
  int attempts = 0;
};

// Sends `body` (with its model rewritten per deployment) to the first candidate that answers;
// retries connect failures, 429, 502, 503 and 504 with jittered backoff, then fails over to the
// next candidate. Nothing has been sent to the client yet when this runs.
using BodyFor = std::function<std::string(const Deployment&)>;
net::awaitable<Result<Forwarded>> forward(Pool& pool, Metrics& metrics,
                                          std::span<const Deployment* const> candidates,
                                          CallKind kind, const BodyFor& body_for,
                                          std::string_view request_id, Cancel* cancel = nullptr,
                                          std::string_view extra_head = {},
                                          const Target& target = {});

// The request target (path and query) for `kind` on `deployment`'s provider.
std::string request_target(const Deployment& deployment, CallKind kind);

bool is_retryable_status(int status);

}  // namespace upstream
}  // namespace warden
