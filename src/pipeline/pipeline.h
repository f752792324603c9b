// The request path, top to bottom. pipeline.cpp is the one place where the stages are called in
// order; each stage lives in its own module.
#pragma once

#include <boost/asio/awaitable.hpp>
#include <boost/beast/http/message.hpp>
#include <boost/beast/http/string_body.hpp>

#include "config/config.h"

namespace warden {

class Worker;
class Responder;

namespace pipeline {

using Request = boost::beast::http::request<boost::beast::http::string_body>;

// What the connection tells about the caller (the same for each request on it).
struct ClientInfo {
  std::string_view address;    // the peer's IP address
  std::string_view device_id;  // its verified client certificate's device (mTLS); empty: none
  std::string_view subject;    // that certificate's subject, RFC 2253 (device labels)
};

// Whether a request's body may be read: its route and method exist and its credential is valid,
// judged from the head alone. A request refused here is answered by handle() with its head
// only (the same answer, before a byte of the body is read or 100 Continue is sent).
struct Admission {
  bool admitted = false;
  // The API key's principal, found from the head in the same configuration snapshot: handle()
  // does not hash the key a second time. Null for a token (verified in handle()).
  const Principal* principal = nullptr;
};
Admission admissible(Worker& worker, const Config& config, const Request& head);

// Handles one request that the listener has read whole; writes exactly one response.
// `admitted`: what admissible() found from the request's head with `config`, if it was asked.
boost::asio::awaitable<void> handle(Worker& worker, const ConfigPtr& config, Request& request,
                                    Responder& out, const ClientInfo& client,
                                    const Principal* admitted = nullptr);

// Accounts for a request refused before it could be handled (bad framing, timeouts).
void count_rejected(Worker& worker, int status);

}  // namespace pipeline
}  // namespace warden
