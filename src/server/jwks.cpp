#include "server/jwks.h"

#include <simdjson.h>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/ssl/host_name_verification.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/empty_body.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/http/write.hpp>
#include <boost/beast/ssl/ssl_stream.hpp>

#include <cstdio>

#include "common/json_writer.h"

namespace warden {

namespace net = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = net::ip::tcp;
constexpr auto kUseEc = net::as_tuple(net::use_awaitable);
// A key set or discovery document larger than this is not one.
constexpr size_t kMaxDocumentBytes = 1024 * 1024;

struct JwksFetcher::State {
  identity::KeySetPtr keys;                       // under mu_
  std::chrono::steady_clock::time_point fetched;  // under mu_
  // The control thread's alone:
  bool attempted = false;
  bool in_flight = false;
  std::chrono::steady_clock::time_point last_attempt;
  std::vector<std::shared_ptr<net::steady_timer>> waiters;
};

namespace {

void log_error(const std::string& message) {
  std::string line = R"({"level":"error","msg":)";
  append_json_string(line, message);
  line += "}\n";
  std::fputs(line.c_str(), stderr);
}

struct Url {
  bool tls = false;
  std::string host;
  std::string port;
  std::string target;
};

bool parse_url(const std::string& url, Url& out) {
  size_t rest = 0;
  if (url.rfind("https://", 0) == 0) {
    out.tls = true;
    rest = 8;
  } else if (url.rfind("http://", 0) == 0) {
    rest = 7;
  } else {
    return false;
  }
  const size_t slash = url.find('/', rest);
  std::string authority = url.substr(rest, slash == std::string::npos ? slash : slash - rest);
  out.target = slash == std::string::npos ? "/" : url.substr(slash);
  out.port = out.tls ? "443" : "80";
  if (!authority.empty() && authority.front() == '[') {
    const size_t close = authority.find(']');
    if (close == std::string::npos) return false;
    out.host = authority.substr(1, close - 1);
    if (close + 1 < authority.size() && authority[close + 1] == ':')
      out.port = authority.substr(close + 2);
  } else if (const size_t colon = authority.rfind(':'); colon != std::string::npos) {
    out.host = authority.substr(0, colon);
    out.port = authority.substr(colon + 1);
  } else {
    out.host = authority;
  }
  return !out.host.empty() && !out.port.empty();
}

// One GET with a deadline per step; the body of a 200, or `error`.
template <class Stream>
net::awaitable<bool> exchange(Stream& stream, beast::tcp_stream& raw, const Url& url,
                              std::chrono::milliseconds timeout, std::string& body,
                              std::string& error) {
  http::request<http::empty_body> req{http::verb::get, url.target, 11};
  req.set(http::field::host, url.host);
  req.set(http::field::accept, "application/json");
  req.set(http::field::user_agent, "warden");
  raw.expires_after(timeout);
  auto [wec, wn] = co_await http::async_write(stream, req, kUseEc);
  if (wec) {
    error = "write: " + wec.message();
    co_return false;
  }
  beast::flat_buffer buffer;
  http::response_parser<http::string_body> parser;
  parser.body_limit(kMaxDocumentBytes);
  raw.expires_after(timeout);
  auto [rec, rn] = co_await http::async_read(stream, buffer, parser, kUseEc);
  if (rec) {
    error = "read: " + rec.message();
    co_return false;
  }
  if (parser.get().result_int() != 200) {
    error = "answered " + std::to_string(parser.get().result_int());
    co_return false;
  }
  body = std::move(parser.get().body());
  co_return true;
}

net::awaitable<bool> http_get(const std::string& address, const std::string& ca_file,
                              std::chrono::milliseconds timeout, std::string& body,
                              std::string& error) {
  Url url;
  if (!parse_url(address, url)) {
    error = "not a URL";
    co_return false;
  }
  auto ex = co_await net::this_coro::executor;
  tcp::resolver resolver(ex);
  auto [rec, endpoints] = co_await resolver.async_resolve(url.host, url.port, kUseEc);
  if (rec) {
    error = "resolve: " + rec.message();
    co_return false;
  }
  beast::tcp_stream raw(ex);
  raw.expires_after(timeout);
  auto [cec, ep] = co_await raw.async_connect(endpoints, kUseEc);
  if (cec) {
    error = "connect: " + cec.message();
    co_return false;
  }
  if (!url.tls) co_return co_await exchange(raw, raw, url, timeout, body, error);

  net::ssl::context ctx(net::ssl::context::tls_client);
  boost::system::error_code ec;
  ctx.set_default_verify_paths(ec);
  if (!ca_file.empty()) ctx.load_verify_file(ca_file, ec);
  if (ec) {
    error = "trust store: " + ec.message();
    co_return false;
  }
  ctx.set_verify_mode(net::ssl::verify_peer);
  beast::ssl_stream<beast::tcp_stream> tls(std::move(raw), ctx);
  if (!SSL_set_tlsext_host_name(tls.native_handle(), url.host.c_str())) {
    error = "SNI";
    co_return false;
  }
  tls.set_verify_callback(net::ssl::host_name_verification(url.host));
  beast::get_lowest_layer(tls).expires_after(timeout);
  auto [hec] = co_await tls.async_handshake(net::ssl::stream_base::client, kUseEc);
  if (hec) {
    error = "TLS: " + hec.message();
    co_return false;
  }
  co_return co_await exchange(tls, beast::get_lowest_layer(tls), url, timeout, body, error);
}

// OpenID Connect Discovery 1.0 §4: the document's `issuer` must be the issuer asked about, and
// its `jwks_uri` is where the keys are.
bool jwks_uri_from_discovery(const std::string& doc, const std::string& issuer, std::string& uri,
                             std::string& error) {
  simdjson::dom::parser parser;
  simdjson::dom::element root;
  std::string_view iss, jwks;
  if (parser.parse(doc).get(root) != simdjson::SUCCESS ||
      root["issuer"].get_string().get(iss) != simdjson::SUCCESS ||
      root["jwks_uri"].get_string().get(jwks) != simdjson::SUCCESS) {
    error = "the discovery document has no issuer and jwks_uri";
    return false;
  }
  if (iss != issuer) {
    error = "the discovery document is for another issuer";
    return false;
  }
  uri = std::string(jwks);
  if (!identity::key_url_allowed(uri)) {
    error = "the discovered jwks_uri is not https://";
    return false;
  }
  return true;
}

}  // namespace

JwksFetcher::JwksFetcher(net::io_context& control) : control_(control) {}
JwksFetcher::~JwksFetcher() = default;

JwksFetcher::State& JwksFetcher::state(const identity::IssuerConfig& issuer) {
  // A reload that points an issuer elsewhere starts afresh.
  const std::string key = issuer.issuer + '\n' + issuer.jwks_uri + (issuer.discovery ? "\nd" : "");
  std::lock_guard lock(mu_);
  auto& s = states_[key];
  if (!s) s = std::make_unique<State>();
  return *s;
}

identity::KeySetPtr JwksFetcher::keys(const identity::IssuerConfig& issuer, bool& stale) const {
  State& s = const_cast<JwksFetcher*>(this)->state(issuer);
  std::lock_guard lock(mu_);
  stale = s.keys != nullptr && std::chrono::steady_clock::now() - s.fetched >
                                   std::chrono::seconds(issuer.refresh_interval_s);
  return s.keys;
}

net::awaitable<identity::KeySetPtr> JwksFetcher::refresh(const identity::IssuerConfig& issuer) {
  // The coroutine runs on the control thread; its result comes back to this one.
  co_return co_await net::co_spawn(control_, refresh_here(issuer), net::use_awaitable);
}

net::awaitable<identity::KeySetPtr> JwksFetcher::refresh_here(identity::IssuerConfig issuer) {
  State& s = state(issuer);
  auto current = [&] {
    std::lock_guard lock(mu_);
    return s.keys;
  };
  if (s.in_flight) {
    auto timer =
        std::make_shared<net::steady_timer>(control_, net::steady_timer::time_point::max());
    s.waiters.push_back(timer);
    co_await timer->async_wait(kUseEc);  // cancelled when the fetch ends
    co_return current();
  }
  const auto now = std::chrono::steady_clock::now();
  if (s.attempted && now - s.last_attempt < std::chrono::seconds(issuer.min_refresh_interval_s))
    co_return current();
  s.attempted = true;
  s.in_flight = true;
  s.last_attempt = now;
  ++fetches_;
  const std::chrono::milliseconds timeout(issuer.fetch_timeout_ms);
  std::string uri = issuer.jwks_uri;
  std::string body, error;
  bool ok = true;
  if (issuer.discovery) {
    std::string base = issuer.issuer;
    while (!base.empty() && base.back() == '/') base.pop_back();
    ok = co_await http_get(base + "/.well-known/openid-configuration", issuer.ca_file, timeout,
                           body, error) &&
         jwks_uri_from_discovery(body, issuer.issuer, uri, error);
  }
  identity::KeySetPtr keys;
  if (ok && co_await http_get(uri, issuer.ca_file, timeout, body, error))
    keys = identity::KeySet::parse(body, error);
  if (keys) {
    std::lock_guard lock(mu_);
    s.keys = keys;
    s.fetched = std::chrono::steady_clock::now();
  } else {
    log_error("issuer " + issuer.issuer + ": keys could not be fetched (" + error +
              "); the keys held so far serve");
  }
  s.in_flight = false;
  for (auto& w : s.waiters) w->cancel();
  s.waiters.clear();
  co_return current();
}

}  // namespace warden
