#include "server/worker.h"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/string_body.hpp>

#include "pipeline/pipeline.h"
#include "server/responder.h"

namespace warden {

namespace net = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = net::ip::tcp;
using boost::system::error_code;
constexpr auto kUseEc = net::as_tuple(net::use_awaitable);

Worker::Worker(Shared& shared, unsigned index)
    : shared_(shared), index_(index), ids_(std::random_device{}() ^ (uint64_t{index} << 32)) {}

void Worker::listen(const std::string& host, const std::string& port) {
  tcp::resolver resolver(ioc_);
  const auto endpoints = resolver.resolve(host, port);  // control plane: may block and throw
  const tcp::endpoint ep = *endpoints.begin();
  acceptor_.open(ep.protocol());
  acceptor_.set_option(tcp::acceptor::reuse_address(true));
  acceptor_.set_option(net::detail::socket_option::boolean<SOL_SOCKET, SO_REUSEPORT>(true));
  acceptor_.bind(ep);
  acceptor_.listen(4096);
}

void Worker::run() {
  net::co_spawn(ioc_, accept_loop(), net::detached);
  ioc_.run();
}

void Worker::drain() {
  net::post(ioc_, [this] {
    error_code ignored;
    acceptor_.close(ignored);
    for (tcp::socket* s : idle_) s->close(ignored);
    idle_.clear();
  });
}

void Worker::stop() {
  ioc_.stop();
}

const ConfigPtr& Worker::snapshot() {
  const uint64_t v = shared_.snapshots.version();
  if (v != snapshot_version_) {
    snapshot_ = shared_.snapshots.load();
    snapshot_version_ = v;
    pool_.set_generation(v);
  }
  return snapshot_;
}

std::string Worker::next_request_id() {
  // Random per worker plus a counter: unique without coordination between workers.
  char buf[40];
  const int n =
      std::snprintf(buf, sizeof buf, "req_%016llx%04x", static_cast<unsigned long long>(ids_()),
                    static_cast<unsigned>(++id_counter_ & 0xffff));
  return std::string(buf, static_cast<size_t>(n));
}

net::awaitable<void> Worker::accept_loop() {
  for (;;) {
    auto [ec, socket] = co_await acceptor_.async_accept(kUseEc);
    if (ec) {
      if (!acceptor_.is_open()) co_return;
      continue;  // EMFILE and friends: keep serving the connections we have
    }
    const uint32_t max = snapshot()->server.max_connections;
    if (shared_.connections.fetch_add(1, std::memory_order_relaxed) >= max) {
      shared_.connections.fetch_sub(1, std::memory_order_relaxed);
      ++metrics_.connections_rejected;
      error_code ignored;
      socket.close(ignored);
      continue;
    }
    socket.set_option(tcp::no_delay(true));
    net::co_spawn(ioc_, session(std::move(socket)), net::detached);
  }
}

namespace {

// Maps a failed read of the request head or body to the error the client gets.
GatewayError read_error(const error_code& ec) {
  if (ec == http::error::header_limit)
    return make_error(ErrorCode::kHeadersTooLarge, "The request headers are too large.");
  if (ec == http::error::body_limit)
    return make_error(ErrorCode::kPayloadTooLarge, "The request body is too large.");
  if (ec == beast::error::timeout)
    return make_error(ErrorCode::kRequestTimeout, "The request was not received in time.");
  return make_error(ErrorCode::kBadHttp, std::string("Malformed HTTP request: ") + ec.message());
}

}  // namespace

net::awaitable<void> Worker::session(tcp::socket socket) {
  ++metrics_.connections;
  ++metrics_.connections_total;
  beast::tcp_stream stream(std::move(socket));
  beast::flat_buffer buffer;
  for (;;) {
    if (draining()) break;
    // Wait for the first byte of the next request: the keep-alive idle timeout applies.
    if (buffer.size() == 0) {
      idle_.insert(&stream.socket());
      stream.expires_after(std::chrono::milliseconds(snapshot()->server.idle_timeout_ms));
      auto [ec, n] = co_await stream.async_read_some(buffer.prepare(16 * 1024), kUseEc);
      idle_.erase(&stream.socket());
      if (ec) break;
      buffer.commit(n);
    }
    // The snapshot current when the request's first byte arrived serves the whole request.
    const ConfigPtr config = snapshot();
    const ServerConfig& limits = config->server;
    // From the first byte on, the whole head must arrive within header_timeout_ms and the body
    // within body_timeout_ms: a slow client cannot hold the connection. A timer cancels the read
    // (rather than tcp_stream's expiry, which closes the socket) so that 408 can still be sent.
    http::request_parser<http::string_body> parser;
    parser.header_limit(limits.max_header_bytes);
    parser.body_limit(limits.max_body_bytes);
    Responder out(stream, std::chrono::milliseconds(limits.idle_timeout_ms));
    bool timed_out = false;
    net::steady_timer deadline(ioc_);
    auto arm = [&](uint32_t timeout_ms) {
      deadline.expires_after(std::chrono::milliseconds(timeout_ms));
      deadline.async_wait([&timed_out, &stream](const error_code& ec) {
        if (ec) return;  // cancelled: the frame may be gone, touch nothing
        timed_out = true;
        error_code ignored;
        stream.socket().cancel(ignored);
      });
    };
    stream.expires_never();
    arm(limits.header_timeout_ms);
    auto [hec, hn] = co_await http::async_read_header(stream, buffer, parser, kUseEc);
    if (!hec) {
      const auto& req = parser.get();
      if (req[http::field::expect] == "100-continue" && !parser.is_done()) {
        static constexpr std::string_view kContinue = "HTTP/1.1 100 Continue\r\n\r\n";
        co_await net::async_write(stream, net::buffer(kContinue), kUseEc);
      }
      arm(limits.body_timeout_ms);
      std::tie(hec, hn) = co_await http::async_read(stream, buffer, parser, kUseEc);
    }
    deadline.cancel();
    if (timed_out) hec = beast::error::timeout;
    if (hec) {
      if (hec == http::error::end_of_stream || hec == net::error::eof ||
          hec == net::error::connection_reset) {
        break;
      }
      // The framing can no longer be trusted: answer and close.
      out.set_request_id(next_request_id());
      out.set_keep_alive(false);
      const GatewayError error = read_error(hec);
      co_await out.send_error(error);
      pipeline::count_rejected(*this, out.status());
      break;
    }
    http::request<http::string_body> req = parser.release();
    out.set_keep_alive(req.keep_alive() && !draining());
    co_await pipeline::handle(*this, config, req, out);
    if (!out.keep_alive() || !out.completed()) break;
  }
  error_code ignored;
  stream.socket().shutdown(tcp::socket::shutdown_send, ignored);
  stream.close();
  --metrics_.connections;
  shared_.connections.fetch_sub(1, std::memory_order_relaxed);
}

}  // namespace warden
