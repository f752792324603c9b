// Fuzz target: the bytes of one client connection read as the listener reads them
// (server/worker.cpp: the head read whole and checked as sent by http_framing, then parsed by
// Beast's request_parser with the configured head and body limits, the body read after it, trailer
// fields refused, the unread rest kept for the next request on the connection), then the request
// stages that read the head and the body: the route, the content type and api::parse_call.
// Properties: nothing crashes; how the bytes arrive (read sizes chosen by the input) changes
// nothing — the same requests with the same heads and bodies, the same refusal at the same place;
// a request that passes has no Transfer-Encoding but `chunked`, never with a Content-Length, and
// a body as long as its Content-Length; a parsed call's model token lies inside its body.
#include <simdjson.h>

#include <boost/beast/_experimental/test/stream.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/string.hpp>
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
#include "upstream/http_framing.h"

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

// http_framing::read_head, with blocking reads: clang 14 cannot compile a coroutine with coverage
// instrumentation ("Cannot represent a difference across sections"), so the loop is restated here
// around the same head_length().
std::pair<beast::error_code, size_t> read_head(beast::test::stream& conn,
                                               beast::flat_buffer& buffer, size_t limit) {
  for (size_t searched = 0;;) {
    const std::string_view bytes(static_cast<const char*>(buffer.cdata().data()), buffer.size());
    if (const size_t n = http_framing::head_length(bytes, searched); n != 0) {
      if (n > limit) return {http::error::header_limit, 0};
      return {beast::error_code{}, n};
    }
    if (bytes.size() >= limit) return {http::error::header_limit, 0};
    searched = bytes.size();
    beast::error_code ec;
    const size_t n = conn.read_some(buffer.prepare(std::max<size_t>(4096, limit)), ec);
    if (ec == boost::asio::error::eof)
      return {buffer.size() == 0 ? http::error::end_of_stream : http::error::partial_message, 0};
    if (ec) return {ec, 0};
    buffer.commit(n);
  }
}

void read_requests(beast::test::stream& conn, simdjson::dom::parser& json, std::vector<Read>& out) {
  static const ServerConfig limits;  // the defaults: 16 KiB head, 4 MiB body
  beast::flat_buffer buffer;
  while (out.size() < kMaxRequests) {
    http::request_parser<http::string_body> parser;
    parser.header_limit(limits.max_header_bytes);
    parser.body_limit(limits.max_body_bytes);
    auto [ec, head_size] = read_head(conn, buffer, limits.max_header_bytes);
    std::string_view framing;
    size_t head_fields = 0;
    if (!ec) {
      framing = http_framing::head_problem(
          std::string_view(static_cast<const char*>(buffer.cdata().data()), head_size));
      if (framing.empty()) {
        buffer.consume(parser.put(boost::asio::buffer(buffer.cdata().data(), head_size), ec));
        if (!ec && !parser.is_header_done()) ec = http::error::partial_message;
      }
    }
    if (!ec && framing.empty()) {
      head_fields = static_cast<size_t>(std::distance(parser.get().begin(), parser.get().end()));
      http::read(conn, buffer, parser, ec);
    }
    if (!ec && framing.empty() &&
        static_cast<size_t>(std::distance(parser.get().begin(), parser.get().end())) != head_fields)
      framing = "trailer fields";
    Read r;
    if (ec || !framing.empty()) {
      r.refused = framing.empty() ? status_for(ec) : 400;
      out.push_back(std::move(r));
      return;  // the listener answers and closes; end of stream ends the connection
    }
    const auto& req = parser.get();
    const bool has_length = req.count(http::field::content_length) != 0;
    const bool has_coding = req.count(http::field::transfer_encoding) != 0;
    FUZZ_CHECK(!(has_length && has_coding), "Content-Length with Transfer-Encoding is refused");
    FUZZ_CHECK(!has_coding || beast::iequals(req[http::field::transfer_encoding], "chunked"),
               "no Transfer-Encoding but chunked passes");
    if (has_length) {
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
    if (!out.back().keep_alive) return;
  }
}

std::vector<Read> read_connection(std::string_view bytes, size_t read_size,
                                  simdjson::dom::parser& json) {
  boost::asio::io_context ioc;
  beast::test::stream conn(ioc, bytes);
  if (read_size != 0) conn.read_size(read_size);
  conn.close_remote();  // the client sent everything: after it, end of stream
  std::vector<Read> out;
  read_requests(conn, json, out);
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
