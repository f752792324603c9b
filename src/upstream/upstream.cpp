#include "upstream/upstream.h"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/connect.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl/host_name_verification.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/string.hpp>
#include <boost/beast/http/read.hpp>

#include <openssl/ssl.h>

#include <random>

#include "metrics/metrics.h"
#include "upstream/http_framing.h"

namespace warden::upstream {

namespace http = beast::http;
using tcp = net::ip::tcp;
using boost::system::error_code;
constexpr auto kUseEc = net::as_tuple(net::use_awaitable);
// An upstream's response head larger than this is refused (Beast's default header limit).
constexpr size_t kMaxHead = 8 * 1024;

namespace {

std::chrono::milliseconds ms(uint32_t v) {
  return std::chrono::milliseconds(v);
}

std::chrono::milliseconds until(Clock::time_point deadline, std::chrono::milliseconds cap) {
  const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
  if (left < std::chrono::milliseconds(1)) return std::chrono::milliseconds(1);
  return std::min(left, cap);
}

GatewayError transport_error(const error_code& ec, const Provider& p, const char* during) {
  if (ec == beast::error::timeout) {
    return make_error(ErrorCode::kUpstreamTimeout,
                      "The upstream provider '" + p.name + "' timed out " + during + ".");
  }
  return make_error(ErrorCode::kUpstreamUnavailable,
                    "The upstream provider '" + p.name + "' failed " + during + ".");
}

std::string_view endpoint(CallKind kind) {
  switch (kind) {
    case CallKind::kChat:
      return "/chat/completions";
    case CallKind::kCompletion:
      return "/completions";
    case CallKind::kEmbedding:
      return "/embeddings";
    case CallKind::kMessages:
      return "/messages";
    case CallKind::kCountTokens:
      return "/messages/count_tokens";
    case CallKind::kResponses:
      return "/responses";
  }
  return "/chat/completions";
}

uint64_t jitter_seed() {
  std::random_device rd;
  return (static_cast<uint64_t>(rd()) << 32) ^ rd();
}

}  // namespace

std::string request_target(const Deployment& d, CallKind kind) {
  const Provider& p = *d.provider;
  std::string target;
  if (p.kind == ProviderKind::kOpenAI || p.kind == ProviderKind::kAnthropic) {
    target = p.base_path;
    target += endpoint(kind);
    return target;
  }
  // Azure AI Foundry's model inference endpoint (…/models) takes the model in the body; Azure
  // OpenAI addresses the deployment in the path.
  std::string_view base = p.base_path;
  constexpr std::string_view kModels = "/models";
  if (base.size() >= kModels.size() && base.substr(base.size() - kModels.size()) == kModels) {
    target = base;
  } else {
    constexpr std::string_view kOpenAI = "/openai";
    if (base.size() >= kOpenAI.size() && base.substr(base.size() - kOpenAI.size()) == kOpenAI)
      base.remove_suffix(kOpenAI.size());
    target = std::string(base) + "/openai/deployments/" + d.upstream_model;
  }
  target += endpoint(kind);
  target += "?api-version=" + p.api_version;
  return target;
}

bool is_retryable_status(int status) {
  return status == 429 || status == 502 || status == 503 || status == 504;
}

void Pool::set_generation(uint64_t generation) {
  if (generation == generation_) return;
  generation_ = generation;
  entries_.clear();  // idle connections of the old snapshot close here
}

size_t Pool::idle_count() const {
  size_t n = 0;
  for (const auto& [p, e] : entries_) n += e.idle.size();
  return n;
}

Result<std::shared_ptr<net::ssl::context>> Pool::ssl_context(const Provider& p) {
  Entry& entry = entries_[&p];
  if (!entry.ssl) {
    auto ssl = std::make_shared<net::ssl::context>(net::ssl::context::tls_client);
    error_code ec;
    ssl->set_default_verify_paths(ec);
    // The configuration loader checked the file; if it went away since, no connection is made
    // rather than one that trusts less (or more) than configured.
    if (!ec && !p.ca_file.empty()) ssl->load_verify_file(p.ca_file, ec);
    if (ec) {
      return make_error(ErrorCode::kUpstreamUnavailable, "The upstream provider '" + p.name +
                                                             "' has unusable TLS settings (" +
                                                             ec.message() + ").");
    }
    ssl->set_verify_mode(p.tls_verify ? net::ssl::verify_peer : net::ssl::verify_none);
    entry.ssl = std::move(ssl);
  }
  return entry.ssl;
}

net::awaitable<Result<std::unique_ptr<Connection>>> Pool::acquire(const Provider& p) {
  {
    Entry& entry = entries_[&p];  // not used past the first co_await: a reload may drop it
    while (!entry.idle.empty()) {
      std::unique_ptr<Connection> c = std::move(entry.idle.back());
      entry.idle.pop_back();
      // A connection the server closed meanwhile is caught when the write or the head read
      // fails on it (send_once retries once on a fresh one), not probed here: a probe is a
      // syscall.
      if (c->tcp().socket().is_open()) {
        c->reused = true;
        co_return std::move(c);
      }
    }
  }
  auto conn = std::make_unique<Connection>();
  conn->buffer.reserve(16 * 1024);  // Beast reads up to the free capacity: one read per answer
  conn->provider = &p;
  conn->generation = generation_;
  if (p.tls) {
    auto ssl = ssl_context(p);
    if (!ssl) co_return ssl.error();
    conn->ssl = std::move(ssl.value());
  }
  // An address needs no lookup. A name is looked up within connect_ms: the lookup runs on the
  // resolver's thread (getaddrinfo blocks, and cancelling the resolver completes nothing until
  // it returns), so the request waits on a timer that the lookup's answer wakes; a DNS that does
  // not answer times it out (then retried, or failed over, like a connect that timed out). A
  // lookup given up on lives on in `lookup` and still holds that thread until getaddrinfo returns.
  boost::system::error_code literal_ec;
  const net::ip::address ip = net::ip::make_address(p.host, literal_ec);
  tcp::resolver::results_type endpoints;
  if (literal_ec) {
    struct Lookup {
      explicit Lookup(net::io_context& io) : resolver(io), wake(io) {}
      tcp::resolver resolver;
      net::steady_timer wake;
      bool done = false;
      error_code ec;
      tcp::resolver::results_type found;
    };
    auto lookup = std::make_shared<Lookup>(ioc_);
    lookup->wake.expires_after(ms(p.timeouts.connect_ms));
    lookup->resolver.async_resolve(
        p.host, p.port, [lookup](const error_code& ec, tcp::resolver::results_type found) {
          lookup->done = true;
          lookup->ec = ec;
          lookup->found = std::move(found);
          lookup->wake.cancel();
        });
    co_await lookup->wake.async_wait(kUseEc);
    if (!lookup->done) co_return transport_error(beast::error::timeout, p, "to resolve");
    if (lookup->ec) co_return transport_error(lookup->ec, p, "to resolve");
    endpoints = std::move(lookup->found);
  }
  if (resolved_hook_) resolved_hook_();
  if (p.tls) {
    conn->tls = std::make_unique<beast::ssl_stream<beast::tcp_stream>>(ioc_, *conn->ssl);
  } else {
    conn->plain = std::make_unique<beast::tcp_stream>(ioc_);
  }
  beast::tcp_stream& tcp = conn->tcp();
  tcp.expires_after(ms(p.timeouts.connect_ms));
  error_code cec;
  if (literal_ec) {
    std::tie(cec, std::ignore) = co_await tcp.async_connect(endpoints, kUseEc);
  } else {
    const auto port = static_cast<unsigned short>(std::strtoul(p.port.c_str(), nullptr, 10));
    std::tie(cec) = co_await tcp.async_connect(tcp::endpoint(ip, port), kUseEc);
  }
  if (cec) co_return transport_error(cec, p, "to connect");
  tcp.socket().set_option(tcp::no_delay(true));
  if (p.tls) {
    // SNI, and the certificate must name the host we asked for.
    if (!SSL_set_tlsext_host_name(conn->tls->native_handle(), p.host.c_str()))
      co_return make_error(ErrorCode::kUpstreamUnavailable, "TLS setup failed.");
    if (p.tls_verify) conn->tls->set_verify_callback(net::ssl::host_name_verification(p.host));
    auto [hec] = co_await conn->tls->async_handshake(net::ssl::stream_base::client, kUseEc);
    if (hec) co_return transport_error(hec, p, "the TLS handshake");
  }
  co_return std::move(conn);
}

void Pool::release(std::unique_ptr<Connection> conn) {
  if (!conn || conn->generation != generation_) return;
  Entry& entry = entries_[conn->provider];
  if (entry.idle.size() >= conn->provider->max_idle) return;
  conn->tcp().expires_never();
  entry.idle.push_back(std::move(conn));
}

bool Exchange::is_event_stream() const {
  return content_type_.rfind("text/event-stream", 0) == 0;
}

net::awaitable<Result<std::string_view>> Exchange::read_some() {
  const Provider& p = *conn_->provider;
  while (!parser_.is_done()) {
    parser_.get().body().data = buf_.data();
    parser_.get().body().size = buf_.size();
    conn_->tcp().expires_after(until(deadline_, idle_));
    error_code ec;
    if (conn_->tls) {
      std::tie(ec, std::ignore) =
          co_await http::async_read_some(*conn_->tls, conn_->buffer, parser_, kUseEc);
    } else {
      std::tie(ec, std::ignore) =
          co_await http::async_read_some(*conn_->plain, conn_->buffer, parser_, kUseEc);
    }
    if (ec == http::error::need_buffer) ec = {};
    if (ec) co_return transport_error(ec, p, "while sending its answer");
    const size_t got = buf_.size() - parser_.get().body().size;
    if (got > 0) co_return std::string_view(buf_.data(), got);
  }
  co_return std::string_view();
}

net::awaitable<Result<std::string>> Exchange::read_all(uint64_t limit) {
  std::string out;
  for (;;) {
    auto piece = co_await read_some();
    if (!piece) co_return piece.error();
    if (piece->empty()) break;
    if (out.size() + piece->size() > limit) {
      co_return make_error(ErrorCode::kUpstreamUnavailable, "The upstream answer is too large.");
    }
    out.append(*piece);
  }
  co_return out;
}

void Cancel::cancel() {
  cancelled = true;
  if (active != nullptr) {
    error_code ignored;
    active->tcp().socket().cancel(ignored);
  }
}

void Exchange::finish(Pool& pool) {
  if (cancel_ != nullptr && conn_ && cancel_->active == conn_.get()) cancel_->active = nullptr;
  if (conn_ && parser_.is_done() && keep_alive_) {
    pool.release(std::move(conn_));
  } else if (conn_) {
    error_code ignored;
    conn_->tcp().socket().shutdown(tcp::socket::shutdown_both, ignored);
    conn_->tcp().close();
    conn_.reset();
  }
}

net::awaitable<Result<std::unique_ptr<Exchange>>> send_once(
    Pool& pool, const Deployment& d, CallKind kind, std::string_view body,
    std::string_view request_id, Clock::time_point deadline, Cancel* cancel,
    std::string_view extra_head, const Target& target) {
  const Provider& p = *d.provider;
  // Serialised by hand: a fixed head and a gather write of head + body, no body copy.
  std::string head;
  head.reserve(384);
  head += target.method;
  head += ' ';
  head += request_target(d, kind);
  head += target.suffix;
  head += " HTTP/1.1\r\nHost: ";
  head += p.host;
  if ((p.tls && p.port != "443") || (!p.tls && p.port != "80")) head += ":" + p.port;
  head += "\r\n";
  if (!body.empty()) head += "Content-Type: application/json\r\n";
  head += "Accept: application/json, text/event-stream\r\n";
  head += "User-Agent: warden\r\nx-request-id: ";
  head += request_id;
  head += "\r\n";
  if (!p.api_key.empty()) {
    head += p.kind == ProviderKind::kAzure       ? "api-key: "
            : p.kind == ProviderKind::kAnthropic ? "x-api-key: "
                                                 : "Authorization: Bearer ";
    head += p.api_key;
    head += "\r\n";
  }
  head += extra_head;
  // Anthropic's API needs a version: the client's (in extra_head), else the provider's.
  if (p.kind == ProviderKind::kAnthropic && extra_head.find("anthropic-version:") != 0) {
    head += "anthropic-version: ";
    head += p.api_version.empty() ? "2023-06-01" : p.api_version;
    head += "\r\n";
  }
  head += "Content-Length: " + std::to_string(body.size()) + "\r\n\r\n";
  const std::array<net::const_buffer, 2> buffers{net::buffer(head), net::buffer(body)};

  for (int fresh_try = 0; fresh_try < 2; ++fresh_try) {
    auto acquired = co_await pool.acquire(p);
    if (!acquired) co_return acquired.error();
    auto ex = std::make_unique<Exchange>();
    ex->conn_ = std::move(acquired.value());
    if (cancel != nullptr) {
      if (cancel->cancelled)
        co_return make_error(ErrorCode::kClientClosed, "The client went away.");
      cancel->active = ex->conn_.get();
      ex->cancel_ = cancel;
    }
    ex->deadline_ = deadline;
    ex->idle_ = ms(p.timeouts.idle_ms);
    ex->parser_.body_limit(boost::none);
    Connection& c = *ex->conn_;
    c.tcp().expires_after(until(deadline, ms(p.timeouts.first_byte_ms)));
    error_code ec;
    size_t head_size = 0;
    if (c.tls) {
      std::tie(ec, std::ignore) = co_await net::async_write(*c.tls, buffers, kUseEc);
      if (!ec)
        std::tie(ec, head_size) = co_await http_framing::read_head(*c.tls, c.buffer, kMaxHead);
    } else {
      std::tie(ec, std::ignore) = co_await net::async_write(*c.plain, buffers, kUseEc);
      if (!ec)
        std::tie(ec, head_size) = co_await http_framing::read_head(*c.plain, c.buffer, kMaxHead);
    }
    if (cancel != nullptr && cancel->cancelled) {
      ex->finish(pool);  // closed, not pooled
      co_return make_error(ErrorCode::kClientClosed, "The client went away.");
    }
    if (ec) {
      if (cancel != nullptr && cancel->active == &c) cancel->active = nullptr;
      // A reused keep-alive connection may have been closed by the server just as we sent:
      // nothing was processed, so one retry on a fresh connection is safe and not counted.
      if (c.reused && ec != beast::error::timeout) continue;
      co_return transport_error(ec, p, "before answering");
    }
    // The head as sent must be plain HTTP/1.1 framing (http_framing.h): anything else is the
    // upstream's failure, and its answer is never relayed.
    const std::string_view head(static_cast<const char*>(c.buffer.cdata().data()), head_size);
    const std::string_view problem = http_framing::head_problem(head);
    if (problem.empty()) {
      c.buffer.consume(ex->parser_.put(net::buffer(head), ec));
      if (!ec && !ex->parser_.is_header_done()) ec = http::error::partial_message;
    }
    if (!problem.empty() || ec) {
      ex->keep_alive_ = false;
      ex->finish(pool);  // closed, never pooled
      co_return make_error(ErrorCode::kUpstreamUnavailable,
                           "The upstream provider '" + p.name + "' sent a malformed answer (" +
                               (problem.empty() ? ec.message() : std::string(problem)) + ").");
    }
    const auto& res = ex->parser_.get();
    // Warden asks for no content coding; a body in one (gzip, br …) would pass inspection
    // unread, error bodies included, so the answer is refused whatever its status.
    if (const auto coding = res[http::field::content_encoding];
        !coding.empty() && !beast::iequals(coding, "identity")) {
      co_return make_error(ErrorCode::kUpstreamUnavailable,
                           "The upstream provider '" + p.name + "' sent an answer in a content " +
                               "coding (" + std::string(coding.substr(0, 32)) +
                               ") that cannot be inspected.");
    }
    ex->status_ = static_cast<int>(res.result_int());
    ex->content_type_ = std::string(res[http::field::content_type]);
    ex->keep_alive_ = res.keep_alive();
    co_return std::move(ex);
  }
  co_return make_error(ErrorCode::kUpstreamUnavailable,
                       "The upstream provider '" + p.name + "' closed the connection.");
}

net::awaitable<Result<Forwarded>> forward(Pool& pool, Metrics& metrics,
                                          std::span<const Deployment* const> candidates,
                                          CallKind kind, const BodyFor& body_for,
                                          std::string_view request_id, Cancel* cancel,
                                          std::string_view extra_head, const Target& target) {
  thread_local std::mt19937_64 rng(jitter_seed());
  GatewayError last = make_error(ErrorCode::kUpstreamUnavailable, "No deployment is available.");
  int attempts = 0;
  for (size_t i = 0; i < candidates.size(); ++i) {
    const Deployment& d = *candidates[i];
    const Provider& p = *d.provider;
    const std::string body = body_for(d);
    const auto deadline = Clock::now() + ms(p.timeouts.total_ms);
    for (uint32_t attempt = 0; attempt <= p.retries; ++attempt) {
      if (attempt > 0) {
        metrics.count_retry(p.name);
        // Full jitter: uniform in [0, base * 2^(attempt-1)].
        const uint64_t cap = uint64_t{p.backoff_ms} << (attempt - 1);
        net::steady_timer timer(co_await net::this_coro::executor);
        timer.expires_after(std::chrono::milliseconds(cap == 0 ? 0 : rng() % (cap + 1)));
        co_await timer.async_wait(kUseEc);
      }
      if (cancel != nullptr && cancel->cancelled)
        co_return make_error(ErrorCode::kClientClosed, "The client went away.");
      ++attempts;
      auto sent =
          co_await send_once(pool, d, kind, body, request_id, deadline, cancel, extra_head, target);
      if (!sent && sent.error().code == ErrorCode::kClientClosed) co_return sent.error();
      if (!sent) {
        metrics.count_upstream_error(
            p.name, sent.error().code == ErrorCode::kUpstreamTimeout ? "timeout" : "connect");
        last = sent.error();
        if (Clock::now() >= deadline) break;
        continue;
      }
      const int status = sent.value()->status();
      if (is_retryable_status(status)) {
        metrics.count_upstream_error(p.name, std::to_string(status));
        last = status == 429
                   ? make_error(ErrorCode::kRateLimited,
                                "The upstream provider is rate limiting; try later.")
                   : make_error(status == 504 ? ErrorCode::kUpstreamTimeout
                                              : ErrorCode::kUpstreamUnavailable,
                                "The upstream provider answered " + std::to_string(status) + ".");
        sent.value()->finish(pool);  // unread body: the connection is closed, not reused
        continue;
      }
      if (i > 0) metrics.count_failover(d.name);
      co_return Forwarded{std::move(sent.value()), &d, attempts};
    }
  }
  co_return last;
}

}  // namespace warden::upstream
