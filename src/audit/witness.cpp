#include "audit/witness.h"

#include <simdjson.h>
#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/http/write.hpp>

#include <cstdio>

#include "audit/audit.h"
#include "common/json_writer.h"

namespace warden::audit {

namespace net = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;

namespace {

// One POST with a deadline over the whole exchange (resolve, connect, write, read).
bool post(const std::string& host, const std::string& port, const std::string& path,
          const std::string& body, int64_t timeout_ms, int& status, std::string& answer,
          std::string& error) {
  net::io_context ioc;
  net::ip::tcp::resolver resolver(ioc);
  beast::tcp_stream stream(ioc);
  beast::flat_buffer buffer;
  http::request<http::string_body> req{http::verb::post, path, 11};
  req.set(http::field::host, host);
  req.set(http::field::content_type, "application/json");
  req.body() = body;
  req.prepare_payload();
  http::response<http::string_body> res;
  beast::error_code result = net::error::timed_out;
  stream.expires_after(std::chrono::milliseconds(timeout_ms));
  resolver.async_resolve(host, port, [&](beast::error_code ec, auto endpoints) {
    if (ec) return void(result = ec);
    stream.async_connect(endpoints, [&](beast::error_code ec2, auto) {
      if (ec2) return void(result = ec2);
      http::async_write(stream, req, [&](beast::error_code ec3, size_t) {
        if (ec3) return void(result = ec3);
        http::async_read(stream, buffer, res, [&](beast::error_code ec4, size_t) { result = ec4; });
      });
    });
  });
  ioc.run_for(std::chrono::milliseconds(timeout_ms + 100));
  if (result) {
    error = result.message();
    return false;
  }
  status = static_cast<int>(res.result_int());
  answer = res.body();
  return true;
}

}  // namespace

WitnessClient::WitnessClient(std::vector<std::string> urls, int64_t timeout_ms,
                             std::unique_ptr<Store> store, std::string chain)
    : timeout_ms_(timeout_ms), store_(std::move(store)), chain_(std::move(chain)) {
  for (std::string& url : urls) {
    // http://host:port/path (configuration checks the form)
    Target t;
    t.url = url;
    std::string rest = url.substr(url.find("://") + 3);
    const size_t slash = rest.find('/');
    t.path = slash == std::string::npos ? "/" : rest.substr(slash);
    const std::string authority = rest.substr(0, slash);
    const size_t colon = authority.rfind(':');
    t.host = colon == std::string::npos ? authority : authority.substr(0, colon);
    t.port = colon == std::string::npos ? "80" : authority.substr(colon + 1);
    targets_.push_back(std::move(t));
  }
  if (store_) {
    std::string error;
    if (!store_->open(error)) {
      log_line("error", "witness client: cannot open the audit store: " + error);
      store_.reset();
    }
  }
  thread_ = std::thread([this] { run(); });
}

WitnessClient::~WitnessClient() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  thread_.join();
}

void WitnessClient::offer(int64_t seq, std::string text) {
  {
    std::lock_guard lock(mu_);
    pending_seq_ = seq;
    pending_ = std::move(text);
  }
  cv_.notify_one();
}

void WitnessClient::on_countersigned(Countersigned f) {
  std::lock_guard lock(mu_);
  countersigned_ = std::move(f);
}

bool WitnessClient::send(size_t w, int64_t seq, const std::string& text) {
  Target& t = targets_[w];
  for (int attempt = 0; attempt < 2; ++attempt) {
    std::string body =
        "{\"checkpoint\":" + text + ",\"from\":" + std::to_string(t.known) + ",\"proof\":[";
    if (t.known > 0 && t.known < seq) {
      const auto proof = store_
                             ? merkle::consistency_proof(t.known, seq, node_source(*store_, chain_))
                             : std::nullopt;
      if (!proof) {
        log_line("error", "witness " + t.url + ": no consistency proof from " +
                              std::to_string(t.known) + " to " + std::to_string(seq));
        return false;
      }
      for (size_t i = 0; i < proof->size(); ++i)
        body += (i ? ",\"" : "\"") + to_hex((*proof)[i]) + "\"";
    }
    body += "]}";
    int status = 0;
    std::string answer, error;
    if (!post(t.host, t.port, t.path, body, timeout_ms_, status, answer, error)) {
      log_line("error", "witness " + t.url + " unreachable: " + error);
      return false;
    }
    if (status == 200) {
      t.known = seq;
      keep_cosignature(t, seq, text, answer);
      return true;
    }
    int64_t theirs = -1;
    simdjson::dom::parser parser;
    simdjson::dom::element doc;
    if (status == 409 && parser.parse(answer).get(doc) == simdjson::SUCCESS &&
        doc["seq"].get_int64().get(theirs) == simdjson::SUCCESS && theirs != t.known &&
        attempt == 0) {
      t.known = theirs;  // prove consistency from the checkpoint the witness holds
      continue;
    }
    log_line("error", "witness " + t.url + " refused checkpoint " + std::to_string(seq) + ": " +
                          std::to_string(status) + " " + answer);
    return false;
  }
  return false;
}

// The countersignature a witness answered, kept in the store beside the checkpoint it signed:
// a rewrite re-signed later with the gateway's own key no longer matches it, and the gateway's
// key cannot forge another. It is not checked here (the gateway is not told whom to trust;
// `audit verify --witness-key` is), only its form; an answer without one is logged.
void WitnessClient::keep_cosignature(const Target& t, int64_t seq, const std::string& text,
                                     const std::string& answer) {
  std::string_view key, sig;
  simdjson::dom::parser parser;
  simdjson::dom::element doc, cosig;
  auto c = parse_checkpoint(text);
  if (parser.parse(answer).get(doc) != simdjson::SUCCESS ||
      doc["cosignature"].get(cosig) != simdjson::SUCCESS ||
      cosig["key"].get_string().get(key) != simdjson::SUCCESS ||
      cosig["sig"].get_string().get(sig) != simdjson::SUCCESS || key.size() != 64 ||
      key.find_first_not_of("0123456789abcdef") != std::string_view::npos || sig.empty() ||
      sig.size() > 256 || !c) {
    log_line("error", "witness " + t.url + " accepted checkpoint " + std::to_string(seq) +
                          " without a countersignature in the expected form");
    ++cosign_failures_;
    return;
  }
  c->cosignatures.push_back({std::string(key), std::string(sig), t.url});
  std::string error;
  if (!store_ || !store_->add_cosignature(chain_, seq, std::string(key), c->text(), error)) {
    log_line("error", "witness " + t.url + ": cannot keep its countersignature of checkpoint " +
                          std::to_string(seq) + ": " + (store_ ? error : "no store"));
    ++cosign_failures_;
    return;
  }
  ++cosigned_;
  Countersigned tell;
  {
    std::lock_guard lock(mu_);
    tell = countersigned_;
  }
  if (tell) tell(std::string(key), seq, c->text());
}

void WitnessClient::run() {
  for (;;) {
    int64_t seq;
    std::string text;
    bool stopping;
    {
      std::unique_lock lock(mu_);
      cv_.wait(lock, [&] { return stopping_ || pending_seq_ >= 0; });
      stopping = stopping_;
      seq = pending_seq_;
      text = std::move(pending_);
      pending_seq_ = -1;
    }
    if (seq >= 0) {
      for (size_t w = 0; w < targets_.size(); ++w) {
        if (send(w, seq, text))
          ++accepted_;
        else
          ++failures_;
      }
    }
    if (stopping) return;
  }
}

}  // namespace warden::audit
