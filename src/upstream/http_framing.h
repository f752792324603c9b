// Strict HTTP/1.1 framing, for request heads from clients and response heads from upstreams
// (both untrusted). Beast's parser accepts what a gateway must refuse, because a proxy that reads
// a message differently from the next hop lets a request be smuggled past its checks:
//  - obsolete line folding (a header line starting with SP or HTAB; RFC 9112 §5.2): Beast joins
//    it to the previous field;
//  - a Transfer-Encoding other than exactly `chunked` (RFC 9112 §6.3): Beast reads a request
//    whose final coding is not chunked as having no body, and Warden decodes no other coding.
// Both are refused (a request: 400 and close; an upstream answer: 502). Trailer fields are the
// caller's to refuse: Beast's parser merges them into the header fields.
// The head is read whole before Beast parses it, so these checks see the bytes as sent.
#pragma once

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http/error.hpp>

#include <algorithm>
#include <string_view>
#include <utility>

namespace warden::http_framing {

// What is wrong with a whole head (start line to the empty line), or empty when nothing is.
std::string_view head_problem(std::string_view head);

// The length of the whole head at the start of `data` (through its empty line), or 0.
size_t head_length(std::string_view data, size_t searched_before = 0);

// Reads from `stream` into `buffer` until it holds a whole head; returns its length. Errors:
// header_limit past `limit` bytes, end_of_stream when the peer closed before a byte of it.
template <typename Stream>
boost::asio::awaitable<std::pair<boost::system::error_code, size_t>> read_head(
    Stream& stream, boost::beast::flat_buffer& buffer, size_t limit) {
  constexpr auto kUseEc = boost::asio::as_tuple(boost::asio::use_awaitable);
  size_t searched = 0;
  for (;;) {
    const auto data = buffer.cdata();
    const std::string_view bytes(static_cast<const char*>(data.data()), data.size());
    if (const size_t n = head_length(bytes, searched); n != 0) {
      if (n > limit) co_return std::pair{boost::beast::http::error::header_limit, size_t{0}};
      co_return std::pair{boost::system::error_code{}, n};
    }
    if (bytes.size() >= limit)
      co_return std::pair{boost::beast::http::error::header_limit, size_t{0}};
    searched = bytes.size();
    auto [ec, n] =
        co_await stream.async_read_some(buffer.prepare(std::max<size_t>(4096, limit)), kUseEc);
    if (ec) {
      if (ec == boost::asio::error::eof && buffer.size() == 0)
        ec = boost::beast::http::error::end_of_stream;
      else if (ec == boost::asio::error::eof)
        ec = boost::beast::http::error::partial_message;
      co_return std::pair{ec, size_t{0}};
    }
    buffer.commit(n);
  }
}

}  // namespace warden::http_framing
