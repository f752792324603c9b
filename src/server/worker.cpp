#include "server/worker.h"

#include <openssl/ssl.h>
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
#include <boost/beast/ssl/ssl_stream.hpp>

#include <algorithm>
#include <array>

#include "identity/tls.h"
#include "pipeline/pipeline.h"
#include "server/deadline.h"
#include "server/responder.h"
#include "upstream/http_framing.h"

namespace warden {

namespace net = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = net::ip::tcp;
using boost::system::error_code;
constexpr auto kUseEc = net::as_tuple(net::use_awaitable);

Worker::Worker(Shared& shared, unsigned index)
    : shared_(shared),
      index_(index),
      redis_limits_(std::make_shared<limits::RedisStore>(ioc_, metrics_)),
      ids_(std::random_device{}() ^ (uint64_t{index} << 32)) {}

void Worker::listen(const std::vector<ClientListener>& listeners) {
  tcp::resolver resolver(ioc_);
  for (const ClientListener& l : listeners) {
    // Control plane: may block and throw.
    const auto endpoints = resolver.resolve(l.address.host, l.address.port);
    const tcp::endpoint ep = *endpoints.begin();
    auto& acceptor = acceptors_.emplace_back(std::make_unique<tcp::acceptor>(ioc_));
    acceptor->open(ep.protocol());
    acceptor->set_option(tcp::acceptor::reuse_address(true));
    acceptor->set_option(net::detail::socket_option::boolean<SOL_SOCKET, SO_REUSEPORT>(true));
    acceptor->bind(ep);
    acceptor->listen(4096);
  }
}

void Worker::run() {
  for (size_t i = 0; i < acceptors_.size(); ++i) net::co_spawn(ioc_, accept_loop(i), net::detached);
  ioc_.run();
}

void Worker::drain() {
  net::post(ioc_, [this] {
    error_code ignored;
    for (auto& acceptor : acceptors_) acceptor->close(ignored);
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
    tokens_.clear();      // verified under the old snapshot's issuers and claim mapping
    limit_keys_.clear();  // built for the old snapshot's rules (a slot holds its memory)
  }
  return snapshot_;
}

namespace {

// The client's address as configuration writes it (an IPv4 client of an IPv6 listener as IPv4).
std::string peer_address(const tcp::socket& socket) {
  error_code ec;
  net::ip::address a = socket.remote_endpoint(ec).address();
  if (ec) return {};
  if (a.is_v6() && a.to_v6().is_v4_mapped())
    a = net::ip::make_address_v4(net::ip::v4_mapped, a.to_v6());
  return a.to_string();
}

}  // namespace

std::string Worker::next_request_id() {
  // Random per worker plus a counter: unique without coordination between workers.
  char buf[40];
  const int n =
      std::snprintf(buf, sizeof buf, "req_%016llx%04x", static_cast<unsigned long long>(ids_()),
                    static_cast<unsigned>(++id_counter_ & 0xffff));
  return std::string(buf, static_cast<size_t>(n));
}

std::shared_ptr<net::ssl::context> Worker::tls_context(size_t i) {
  const ConfigPtr& config = snapshot();
  if (tls_contexts_version_ != snapshot_version_ || tls_contexts_.empty()) {
    tls_contexts_.assign(acceptors_.size(), nullptr);
    tls_contexts_version_ = snapshot_version_;
  }
  if (tls_contexts_[i] == nullptr && i < config->server.listeners.size()) {
    if (const auto& tls = config->server.listeners[i].tls) {
      // Asio's context owns the handle it is given: it gets a reference of its own.
      SSL_CTX_up_ref(tls->context());
      tls_contexts_[i] = std::make_shared<net::ssl::context>(tls->context());
    }
  }
  return tls_contexts_[i];
}

void Worker::refused_at_door(const Config& config, std::string_view address,
                             std::string_view reason, int status) {
  if (config.audit.enabled && audit() != nullptr) audit()->refused(address, reason, status);
}

net::awaitable<void> Worker::accept_loop(size_t listener) {
  tcp::acceptor& acceptor = *acceptors_[listener];
  for (;;) {
    auto [ec, socket] = co_await acceptor.async_accept(kUseEc);
    if (ec) {
      if (!acceptor.is_open()) co_return;
      continue;  // EMFILE and friends: keep serving the connections we have
    }
    const ConfigPtr& config = snapshot();
    const ServerConfig& limits = config->server;
    std::string address = peer_address(socket);
    if (shared_.connections.fetch_add(1, std::memory_order_relaxed) >= limits.max_connections) {
      shared_.connections.fetch_sub(1, std::memory_order_relaxed);
      ++metrics_.connections_rejected;
      refused_at_door(*config, address, "max_connections", 0);
      error_code ignored;
      socket.close(ignored);
      continue;
    }
    // One address may hold only so many connections (a fronting proxy's are exempt: it carries
    // every client's).
    if (limits.max_connections_per_address != 0 &&
        std::find(limits.trusted_proxies.begin(), limits.trusted_proxies.end(), address) ==
            limits.trusted_proxies.end() &&
        !shared_.per_address.try_add(address, limits.max_connections_per_address)) {
      shared_.connections.fetch_sub(1, std::memory_order_relaxed);
      ++metrics_.connections_rejected;
      refused_at_door(*config, address, "connections_per_address", 0);
      error_code ignored;
      socket.close(ignored);
      continue;
    }
    if (limits.max_connections_per_address == 0 ||
        std::find(limits.trusted_proxies.begin(), limits.trusted_proxies.end(), address) !=
            limits.trusted_proxies.end())
      address.clear();  // not counted per address: nothing to give back at the end
    socket.set_option(tcp::no_delay(true));
    net::co_spawn(ioc_, session(std::move(socket), std::move(address), listener), net::detached);
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

// After an answer to a request whose bytes were not all read (413, 400, 408, a refusal from the
// head), closing at once would make the kernel reset the connection, and a client still sending
// would get the reset instead of the answer (SDKs then retry and upload the body again). So the
// sending side is closed first and what the client still sends is read and dropped, up to
// kLingerBytes or kLingerTime, whichever comes first (nginx's lingering close).
constexpr size_t kLingerBytes = 32 * 1024 * 1024;
constexpr std::chrono::milliseconds kLingerTime{3000};

net::awaitable<void> linger_close(beast::tcp_stream& stream) {
  error_code ignored;
  stream.socket().shutdown(tcp::socket::shutdown_send, ignored);
  stream.expires_after(kLingerTime);
  std::array<char, 16 * 1024> sink;  // NOLINT: written by reads only
  for (size_t drained = 0; drained < kLingerBytes;) {
    auto [ec, n] = co_await stream.async_read_some(net::buffer(sink), kUseEc);
    if (ec) break;
    drained += n;
  }
}

}  // namespace

net::awaitable<void> Worker::session(tcp::socket socket, std::string address, size_t listener) {
  ++metrics_.connections;
  ++metrics_.connections_total;
  if (std::shared_ptr<net::ssl::context> ctx = tls_context(listener)) {
    const identity::ServerTlsPtr server_tls = snapshot()->server.listeners[listener].tls;
    TlsStream tls(beast::tcp_stream(std::move(socket)), *ctx);
    beast::tcp_stream& raw = beast::get_lowest_layer(tls);
    // The handshake is the connection's first bytes: it gets first_byte_timeout_ms, like a
    // plain connection's first request byte.
    raw.expires_after(std::chrono::milliseconds(snapshot()->server.first_byte_timeout_ms));
    auto [ec] = co_await tls.async_handshake(net::ssl::stream_base::server, kUseEc);
    // A client certificate was verified against the client CAs and the CRL in the handshake,
    // unless the session was resumed: then only its revocation is looked up again here.
    X509* cert = ec ? nullptr : SSL_get0_peer_certificate(tls.native_handle());
    if (cert != nullptr &&
        (SSL_get_verify_result(tls.native_handle()) != X509_V_OK || server_tls->revoked(cert))) {
      ec = net::ssl::error::stream_truncated;  // refused: closed without a response
    }
    if (ec) {
      ++metrics_.tls_handshake_failures;
      refused_at_door(*snapshot(), peer_address(raw.socket()), "tls_handshake", 0);
    } else {
      co_await serve_requests(tls, raw, &tls, identity::certificate_device_id(cert),
                              identity::certificate_subject(cert));
      // Closed without a close_notify (none is awaited from a client that is gone): OpenSSL would
      // then drop the session from the context's cache as if the connection had failed. Since
      // TLS 1.1 an unannounced close need not end a session, and the client may resume it.
      SSL_set_shutdown(tls.native_handle(), SSL_SENT_SHUTDOWN | SSL_RECEIVED_SHUTDOWN);
    }
    error_code ignored;
    raw.socket().shutdown(tcp::socket::shutdown_send, ignored);
    raw.close();
  } else {
    beast::tcp_stream stream(std::move(socket));
    co_await serve_requests(stream, stream, nullptr, {}, {});
    error_code ignored;
    stream.socket().shutdown(tcp::socket::shutdown_send, ignored);
    stream.close();
  }
  --metrics_.connections;
  shared_.connections.fetch_sub(1, std::memory_order_relaxed);
  if (!address.empty()) shared_.per_address.remove(address);
}

template <class Stream>
net::awaitable<void> Worker::serve_requests(Stream& stream, beast::tcp_stream& raw, TlsStream* tls,
                                            std::string device_id, std::string subject) {
  const std::string client_address = peer_address(raw.socket());
  const pipeline::ClientInfo client{client_address, device_id, subject};
  beast::flat_buffer buffer;
  bool first_request = true;
  bool linger = false;  // the last request's bytes were not all read
  for (;;) {
    if (draining()) break;
    // Wait for the first byte of the next request. A new connection gets first_byte_timeout_ms
    // (short: a client that connects and sends nothing holds a connection for no purpose), a
    // kept-alive one idle_timeout_ms.
    if (buffer.size() == 0) {
      const ServerConfig& limits = snapshot()->server;
      idle_.insert(&raw.socket());
      raw.expires_after(std::chrono::milliseconds(first_request ? limits.first_byte_timeout_ms
                                                                : limits.idle_timeout_ms));
      auto [ec, n] = co_await stream.async_read_some(buffer.prepare(16 * 1024), kUseEc);
      idle_.erase(&raw.socket());
      if (ec) break;
      buffer.commit(n);
    }
    first_request = false;
    // The snapshot current when the request's first byte arrived serves the whole request.
    const ConfigPtr config = snapshot();
    const ServerConfig& limits = config->server;
    // From the first byte on, the whole head must arrive within header_timeout_ms and the body
    // within body_timeout_ms: a slow client cannot hold the connection. A timer cancels the read
    // (rather than tcp_stream's expiry, which closes the socket) so that 408 can still be sent.
    http::request_parser<http::string_body> parser;
    parser.header_limit(limits.max_header_bytes);
    parser.body_limit(limits.max_body_bytes);
    Responder out(raw, tls, std::chrono::milliseconds(limits.idle_timeout_ms));
    bool timed_out = false;
    Deadline deadline(ioc_.get_executor());
    auto arm = [&](uint32_t timeout_ms) {
      deadline.arm(std::chrono::milliseconds(timeout_ms), [&timed_out, &raw] {
        timed_out = true;
        error_code ignored;
        raw.socket().cancel(ignored);
      });
    };
    raw.expires_never();
    arm(limits.header_timeout_ms);
    // The head is read whole and checked as sent, then parsed (see http_framing.h).
    auto [hec, head_size] =
        co_await http_framing::read_head(stream, buffer, limits.max_header_bytes);
    std::string_view framing;
    if (!hec) {
      framing = http_framing::head_problem(
          std::string_view(static_cast<const char*>(buffer.cdata().data()), head_size));
      if (framing.empty()) {
        const size_t used = parser.put(net::buffer(buffer.cdata().data(), head_size), hec);
        buffer.consume(used);
        if (!hec && !parser.is_header_done()) hec = http::error::partial_message;
      }
    }
    size_t head_fields = 0;
    pipeline::Admission admission;
    if (!hec && framing.empty()) {
      const auto& head = parser.get();
      admission = pipeline::admissible(*this, *config, head);
      if (!admission.admitted) {
        // Refused from the head: the body is neither asked for (100 Continue) nor read.
        deadline.cancel();
        http::request<http::string_body> req = parser.release();
        out.set_keep_alive(false);
        co_await pipeline::handle(*this, config, req, out, client);
        linger = !parser.is_done();
        break;
      }
      if (head[http::field::expect] == "100-continue" && !parser.is_done()) {
        static constexpr std::string_view kContinue = "HTTP/1.1 100 Continue\r\n\r\n";
        co_await net::async_write(stream, net::buffer(kContinue), kUseEc);
      }
      head_fields = static_cast<size_t>(std::distance(head.begin(), head.end()));
      arm(limits.body_timeout_ms);
      std::tie(hec, std::ignore) = co_await http::async_read(stream, buffer, parser, kUseEc);
    }
    deadline.cancel();
    if (timed_out) hec = beast::error::timeout;
    // Trailer fields (after a chunked body) would be merged into the header fields by the
    // parser, where they could stand for a credential or a request id: refused.
    if (!hec && framing.empty() &&
        static_cast<size_t>(std::distance(parser.get().begin(), parser.get().end())) !=
            head_fields) {
      framing = "trailer fields";
    }
    if (hec || !framing.empty()) {
      if (framing.empty() && (hec == http::error::end_of_stream || hec == net::error::eof ||
                              hec == net::error::connection_reset)) {
        break;
      }
      // The framing can no longer be trusted: answer and close.
      out.set_request_id(next_request_id());
      out.set_keep_alive(false);
      const GatewayError error =
          framing.empty() ? read_error(hec)
                          : make_error(ErrorCode::kBadHttp,
                                       "Malformed HTTP request: " + std::string(framing) + ".");
      co_await out.send_error(error);
      pipeline::count_rejected(*this, out.status());
      refused_at_door(*config, client_address, error_info(error.code).code, out.status());
      linger = true;
      break;
    }
    http::request<http::string_body> req = parser.release();
    out.set_keep_alive(req.keep_alive() && !draining());
    co_await pipeline::handle(*this, config, req, out, client, admission.principal);
    if (!out.keep_alive() || !out.completed()) break;
  }
  // Lingering reads the TCP stream under TLS too: what is left is dropped unread.
  if (linger) co_await linger_close(raw);
}

}  // namespace warden
