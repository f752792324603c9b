#include "server/responder.h"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/http/status.hpp>
#include <boost/beast/ssl/ssl_stream.hpp>

#include <sys/socket.h>

#include <array>
#include <cerrno>

namespace warden {

namespace net = boost::asio;
constexpr auto kUseEc = net::as_tuple(net::use_awaitable);

// Writes to the TLS layer when there is one, else to the socket; the write timeout is the TCP
// stream's either way (the TLS layer writes through it).
template <class Buffers>
net::awaitable<bool> Responder::write(const Buffers& buffers) {
  stream_.expires_after(write_timeout_);
  boost::system::error_code ec;
  if (tls_ != nullptr) {
    std::tie(ec, std::ignore) = co_await net::async_write(*tls_, buffers, kUseEc);
  } else {
    std::tie(ec, std::ignore) = co_await net::async_write(stream_, buffers, kUseEc);
  }
  co_return !ec;
}

void Responder::add_header(std::string_view name, std::string_view value) {
  // Room for the usual few (x-ratelimit-* three, x-warden-deployment) at once: growing by
  // doubling cost three reallocations a request with limits (bench/callgrind.sh LIMITS=4).
  if (extra_headers_.capacity() < 256) extra_headers_.reserve(256);
  using namespace std::string_view_literals;
  extra_headers_.append(name);
  extra_headers_.append(": "sv);  // a literal's length known: no strlen
  extra_headers_.append(value);
  extra_headers_.append("\r\n"sv);
}

void Responder::add_header_lines(std::string_view lines) {
  if (extra_headers_.capacity() < 256) extra_headers_.reserve(256);
  extra_headers_.append(lines);
}

std::string Responder::head(int status, std::string_view content_type) {
  status_ = status;
  std::string h;
  // The fixed lines, the status and what send() or begin_stream() add take under 192 bytes; with
  // the added lines the head is then allocated once (a fixed 256 was outgrown by the
  // x-ratelimit-* lines).
  h.reserve(192 + content_type.size() + request_id_.size() + extra_headers_.size());
  h += "HTTP/1.1 ";
  h += std::to_string(status);
  h += ' ';
  h += boost::beast::http::obsolete_reason(static_cast<boost::beast::http::status>(status));
  h += "\r\nServer: warden\r\nContent-Type: ";
  h += content_type;
  h += "\r\nx-request-id: ";
  h += request_id_;
  h += "\r\n";
  h += extra_headers_;
  if (!keep_alive_) h += "Connection: close\r\n";
  return h;
}

void Responder::watch_disconnect(std::function<void()> on_gone) {
  stop_watch();
  auto watch = std::make_shared<Watch>();
  watch->on_gone = std::move(on_gone);
  watch_ = watch;
  const int fd = stream_.socket().native_handle();
  stream_.socket().async_wait(net::socket_base::wait_read,
                              [watch, fd](const boost::system::error_code& ec) {
                                if (ec || watch->stopped) return;
                                // Readable: either the peer closed (recv sees 0) or it sent the
                                // next request early (data: it is read after this response).
                                // Over TLS a close_notify alert is data too: such a client is
                                // seen gone only when the answer's write fails.
                                char byte = 0;
                                const ssize_t n = ::recv(fd, &byte, 1, MSG_PEEK | MSG_DONTWAIT);
                                if (n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK))
                                  watch->on_gone();
                              });
}

void Responder::stop_watch() {
  if (!watch_) return;
  watch_->stopped = true;
  watch_.reset();
  boost::system::error_code ignored;
  stream_.socket().cancel(ignored);  // the pending wait completes as aborted
}

net::awaitable<bool> Responder::send(int status, std::string_view content_type,
                                     std::string_view body) {
  if (gate_) {
    CompletionGate gate = std::move(gate_);  // once
    if (!co_await gate(status)) {
      const GatewayError error{
          ErrorCode::kAuditUnavailable,
          "The audit record could not be committed; the response is withheld."};
      const std::string err = error_json(error_shape_, error, request_id_);
      co_return co_await send(503, "application/json", err);
    }
  }
  std::string h = head(status, content_type);
  h += "Content-Length: ";
  h += std::to_string(body.size());
  h += "\r\n\r\n";
  const std::array<net::const_buffer, 2> bufs{net::buffer(h), net::buffer(body)};
  completed_ = co_await write(bufs);
  co_return completed_;
}

net::awaitable<bool> Responder::send_error(const GatewayError& error) {
  const std::string body = error_json(error_shape_, error, request_id_);
  if (error_info(error.code).status == 405) add_header("Allow", "GET, POST");
  const int status = error_info(error.code).status;
  co_return co_await send(status, "application/json", body);
}

net::awaitable<bool> Responder::begin_stream(int status, std::string_view content_type) {
  std::string h = head(status, content_type);
  h += "Cache-Control: no-cache\r\nTransfer-Encoding: chunked\r\n\r\n";
  co_return co_await write(net::buffer(h));
}

net::awaitable<bool> Responder::stream(std::string_view data) {
  if (data.empty()) co_return true;
  char size_line[24];
  const int len = std::snprintf(size_line, sizeof size_line, "%zx\r\n", data.size());
  const std::array<net::const_buffer, 3> bufs{net::buffer(size_line, static_cast<size_t>(len)),
                                              net::buffer(data), net::buffer("\r\n", 2)};
  co_return co_await write(bufs);
}

net::awaitable<bool> Responder::end_stream() {
  if (gate_) {
    CompletionGate gate = std::move(gate_);
    if (!co_await gate(status_)) {
      const std::string event = error_event(
          error_shape_, {ErrorCode::kAuditUnavailable, "The audit record could not be committed."},
          request_id_);
      co_await stream(event);
    }
  }
  completed_ = co_await write(net::buffer("0\r\n\r\n", 5));
  co_return completed_;
}

}  // namespace warden
