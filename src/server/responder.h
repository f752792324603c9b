// Writes one response on a client connection: a whole one, or a chunked stream flushed event by
// event. Heads are built by hand (a handful of fixed headers) to keep the per-request path short.
#pragma once

#include <boost/asio/awaitable.hpp>
#include <boost/beast/core/tcp_stream.hpp>

#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include "common/result.h"

namespace boost::beast {
template <class NextLayer>
class ssl_stream;
}  // namespace boost::beast

namespace warden {

// A client connection over TLS (the TCP stream is its next layer). Declared only: the SSL
// headers stay in the few files that read or write it.
using TlsStream = boost::beast::ssl_stream<boost::beast::tcp_stream>;

class Responder {
 public:
  // `tls`: the connection's TLS layer over `stream`, or null for plain HTTP.
  Responder(boost::beast::tcp_stream& stream, TlsStream* tls,
            std::chrono::milliseconds write_timeout)
      : stream_(stream), tls_(tls), write_timeout_(write_timeout) {}

  void set_request_id(std::string_view id) { request_id_ = id; }
  // Errors are sent in the shape of the route's API (Anthropic's on /v1/messages).
  void set_error_shape(ErrorShape shape) { error_shape_ = shape; }
  ErrorShape error_shape() const { return error_shape_; }
  void add_header(std::string_view name, std::string_view value);
  // Whole header lines, each ending in CRLF, written by the caller (checked names and values).
  void add_header_lines(std::string_view lines);
  void set_keep_alive(bool keep_alive) { keep_alive_ = keep_alive; }
  bool keep_alive() const { return keep_alive_; }

  // Each returns false when the client is gone (the caller stops and frees what it holds).
  boost::asio::awaitable<bool> send(int status, std::string_view content_type,
                                    std::string_view body);
  boost::asio::awaitable<bool> send_error(const GatewayError& error);
  boost::asio::awaitable<bool> begin_stream(int status, std::string_view content_type);
  boost::asio::awaitable<bool> stream(std::string_view data);
  boost::asio::awaitable<bool> end_stream();

  // Runs before a response completes (before a whole response is written, or before a stream's
  // last chunk); false turns the response into an error. Used for strict audit durability.
  using CompletionGate = std::function<boost::asio::awaitable<bool>(int status)>;
  void set_completion_gate(CompletionGate gate) { gate_ = std::move(gate); }

  // While the gateway waits for an upstream, nothing reads the client socket: this watches it
  // and calls `on_gone` if the client closes the connection. stop_watch() ends the watch.
  void watch_disconnect(std::function<void()> on_gone);
  void stop_watch();

  int status() const { return status_; }
  bool started() const { return status_ != 0; }
  bool completed() const { return completed_; }

 private:
  std::string head(int status, std::string_view content_type);
  template <class Buffers>
  boost::asio::awaitable<bool> write(const Buffers& buffers);

  boost::beast::tcp_stream& stream_;
  TlsStream* tls_;
  std::chrono::milliseconds write_timeout_;
  std::string request_id_;
  ErrorShape error_shape_ = ErrorShape::kOpenAI;
  std::string extra_headers_;
  bool keep_alive_ = true;
  int status_ = 0;
  bool completed_ = false;
  std::string scratch_;
  CompletionGate gate_;
  struct Watch {
    bool stopped = false;
    std::function<void()> on_gone;
  };
  std::shared_ptr<Watch> watch_;
};

}  // namespace warden
