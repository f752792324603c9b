// Fuzz target: the bytes of one client connection read as the listener reads them
// (server/worker.cpp: Beast's request_parser with the configured head and body limits, head
// first, then the body, the unread rest kept for the next request on the connection), then the
// request stages that read the head and the body: the route, the content type and
// api::parse_call.
// Properties: nothing crashes; how the bytes arrive (read sizes chosen by the input) changes
// nothing — the same requests with the same heads and bodies, the same refusal at the same place;
// a body's length is its
// Content-Length when it has one; a parsed call's model token lies inside its body.
#include <simdjson.h>

#include <boost/beast/_experimental/test/stream.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/string_body.hpp>

#include <charconv>
#include <cstdint>
#include <cstdio>
#include <string>
#include <vector>

#include "api/api.h"
#include "config/config.h"
#include "fuzz.h"

using namespace warden;
namespace beast = boost::beast;
namespace http = beast::http;

namespace {

constexpr size_t kMaxRequests = 8;  // per connection

// What the listener made of one request: the status of its refusal (0: none, or the connection
// ended between requests), or its head and body.
struct Read {
  int refused = 0;
  std::string head;  // method, target, version and every field, as parsed
  std::string body;
  bool keep_alive = false;
  bool operator==(const Read&) const = default;
};

// The routes and stages of pipeline.cpp that read the request before it is inspected.
void stages(const http::request<http::string_body>& req, simdjson::dom::parser& parser) {
  std::string_view path = req.target();
  if (const size_t q = path.find('?'); q != std::string_view::npos) path = path.substr(0, q);
  CallKind kind;
  if (path == "/v1/chat/completions")
    kind = CallKind::kChat;
  else if (path == "/v1/completions")
    kind = CallKind::kCompletion;
  else if (path == "/v1/embeddings")
    kind = CallKind::kEmbedding;
  else
    return;
  if (req.method() != http::verb::post) return;
  const Result<Call> call = parse_call(kind, req.body(), parser);
  if (!call) return;
  FUZZ_CHECK(call->model_offset + call->model_length <= req.body().size(),
             "the model token lies inside the body");
}

// The status worker.cpp answers a failed read with (0: the client closed, nothing is sent). Which
// malformation Beast names first can depend on how much it had buffered; the answer may not.
int status_for(const beast::error_code& ec) {
  if (ec == http::error::end_of_stream || ec == boost::asio::error::eof ||
      ec == boost::asio::error::connection_reset)
    return 0;
  if (ec == http::error::header_limit) return 431;
  if (ec == http::error::body_limit) return 413;
  return 400;
}

std::vector<Read> read_connection(std::string_view bytes, size_t read_size,
                                  simdjson::dom::parser& json) {
  static const ServerConfig limits;  // the defaults: 16 KiB head, 4 MiB body
  boost::asio::io_context ioc;
  beast::test::stream conn(ioc, bytes);
  if (read_size != 0) conn.read_size(read_size);
  conn.close_remote();  // the client sent everything: after it, end of stream
  beast::flat_buffer buffer;
  std::vector<Read> out;
  while (out.size() < kMaxRequests) {
    http::request_parser<http::string_body> parser;
    parser.header_limit(limits.max_header_bytes);
    parser.body_limit(limits.max_body_bytes);
    beast::error_code ec;
    http::read_header(conn, buffer, parser, ec);
    if (!ec) http::read(conn, buffer, parser, ec);
    Read r;
    if (ec) {
      r.refused = status_for(ec);
      out.push_back(std::move(r));
      break;  // the listener answers an error and closes; end of stream ends the connection
    }
    const auto& req = parser.get();
    if (req.count(http::field::content_length)) {
      const std::string_view v = req[http::field::content_length];
      uint64_t length = 0;
      const auto [end, err] = std::from_chars(v.data(), v.data() + v.size(), length);
      FUZZ_CHECK(err == std::errc() && end == v.data() + v.size() && length == req.body().size(),
                 "the body is as long as its Content-Length");
    }
    r.head = std::string(req.method_string()) + ' ' + std::string(req.target()) + ' ' +
             std::to_string(req.version()) + '\n';
    for (const auto& f : req) {
      r.head += std::string(f.name_string()) + ": " + std::string(f.value()) + '\n';
    }
    r.body = req.body();
    r.keep_alive = req.keep_alive();
    stages(req, json);
    out.push_back(std::move(r));
    if (!out.back().keep_alive) break;
  }
  return out;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  static simdjson::dom::parser json;
  const size_t read_size = data[0] % 64;  // 0: whatever is there
  const std::string_view bytes(reinterpret_cast<const char*>(data) + 1, size - 1);
  const std::vector<Read> chunked = read_connection(bytes, read_size, json);
  const std::vector<Read> whole = read_connection(bytes, 0, json);
  if (chunked != whole) {
    for (const auto* reads : {&chunked, &whole}) {
      std::fprintf(stderr, "%s:\n", reads == &chunked ? "in pieces" : "at once");
      for (const Read& r : *reads)
        std::fprintf(stderr, "  refused %d head '%s' body %zu bytes\n", r.refused, r.head.c_str(),
                     r.body.size());
    }
  }
  FUZZ_CHECK(chunked == whole, "the requests read do not depend on how the bytes arrived");
  return 0;
}
