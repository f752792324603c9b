#include "pipeline/pipeline.h"

#include <unistd.h>

#include <fmt/format.h>
#include <chrono>
#include <cstring>
#include <ctime>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>

#include "api/api.h"
#include "audit/audit.h"
#include "common/json_writer.h"
#include "inspect/answer.h"
#include "inspect/binding.h"
#include "inspect/body.h"
#include "limits/redis.h"
#include "limits/rules.h"
#include "policy/plan.h"
#include "policy/policy.h"
#include "server/jwks.h"
#include "server/offload.h"
#include "server/responder.h"
#include "server/worker.h"
#include "tokenizer/tokenizer.h"

namespace warden::pipeline {

namespace net = boost::asio;
namespace http = boost::beast::http;
using Clock = std::chrono::steady_clock;

namespace {

// Everything the request path learns about one request; logged and counted at the end.
struct RequestContext {
  Clock::time_point start = Clock::now();
  std::string request_id;
  std::string_view route = "-";
  const Principal* principal = nullptr;
  const Principal* admitted = nullptr;  // the API key's principal as admissible() found it
  std::shared_ptr<const Principal> token_principal;  // keeps a token's principal alive
  uint8_t auth_methods = 0;                          // policy::kAuth* bits (auth.methods)
  const ClientInfo* client = nullptr;
  const Model* model = nullptr;
  const Deployment* deployment = nullptr;
  Call call;
  int upstream_status = 0;
  int attempts = 0;
  Usage usage;
  uint64_t sse_events = 0;
  std::string_view error_code;
  inspect::BodyScan request_scan;  // findings in what the client sent
  inspect::Pseudonyms pseudonyms;  // lives only as long as the request
  // What the request sends back that a deployment made (previous_response_id, signed output):
  // the deployment it is bound to and the splices that unwrap it (inspect/binding.h).
  inspect::RequestBinding binding;
  policy::RequestPlan plan;  // what was decided for each candidate deployment
  // Per permitted deployment (in preference order): its masks and pseudonyms.
  std::vector<std::pair<const Deployment*, std::vector<inspect::Splice>>> permitted;
  std::vector<std::string_view> decision_rules;  // the rules behind the decision
  policy::Device device;                         // no device identity yet: not present
  int hour = 0;                                  // time.* attributes, read once
  int weekday = 0;
  std::map<std::string, uint32_t, std::less<>> answer_counts;  // findings in the answer
  // Warden asked the upstream for usage (contract §1.3): the usage event is not relayed.
  bool usage_added = false;
  // A stored response is read, deleted or cancelled: the usage it reports was counted when it was
  // made, not now.
  bool stored = false;
  // Stage 7: what this request reserved against the configured limits.
  struct LimitHold {
    bool held = false;                        // a reservation is held (in one of the stores below)
    limits::Store* store = nullptr;           // the in-process store, or
    std::weak_ptr<limits::RedisStore> redis;  // the worker's Redis connection (may end first)
    std::string id;                           // the reservation's id in Redis
    limits::Renewal renewal;                  // its lease renewed while held (long streams)
    const limits::Settings* settings = nullptr;
    limits::Met met;  // the limits met, their keys and the rule behind each
    limits::Micros at = 0;
    int64_t input_tokens = 0;               // the input's bound, as reserved
    int64_t output_tokens = 0;              // the output's bound, as reserved
    Price price;                            // the price the worst case was reserved at
    Energy energy;                          // the energy figures it was reserved at
    limits::PerLimit<int64_t> remaining;    // what each limit had left after the reservation
    limits::PerLimit<int64_t> settled;      // what each limit was settled with (empty: given back)
    std::string refused;                    // the rule that refused the request, if one did
    std::vector<std::string_view> skipped;  // deployments passed over for their own limits
    bool store_failed = false;              // the store did not answer; fail_open let it pass

    // Replaces the reservation by the usage (`in` + `out` tokens for token limits, their cost at
    // the answering deployment's `price` for spend, the request itself for the others); once.
    // The in-process store settles here; true: the settlement is for Redis (redis_settle()).
    // (No coroutine frame for the in-process store: measured, one was ~4% of a request's limit
    // work.)
    bool settle(int64_t in, int64_t out, const Price& at_price, const Energy& at_energy) {
      if (!held) return false;
      held = false;
      renewal.unlink();
      const auto& applied = met.applied;
      auto& actual = settled;
      actual.resize(applied.size());
      for (size_t i = 0; i < applied.size(); ++i) {
        switch (settings->rules[met.rule_of[i]].measure) {
          case limits::Measure::tokens:
            actual[i] = in + out;
            break;
          case limits::Measure::spend:
            actual[i] =
                limits::micro_cost(at_price.input_per_mtok, at_price.output_per_mtok, in, out);
            break;
          case limits::Measure::energy:
            actual[i] =
                limits::micro_cost(at_energy.wh_per_mtok_in, at_energy.wh_per_mtok_out, in, out);
            break;
          default:
            actual[i] = applied[i].cost;
        }
      }
      if (store == nullptr) return true;
      store->settle(applied, actual, at, limits::wall_micros(), met.locks());
      return false;
    }
    net::awaitable<void> redis_settle() {
      if (auto r = redis.lock())
        co_await r->settle(met.applied, settled, id,
                           std::chrono::milliseconds(settings->redis_timeout_ms));
    }
    // Gives everything back: the request reached no upstream, failed, or its client left.
    void release() {
      if (!held) return;
      held = false;
      renewal.unlink();
      if (store != nullptr) {
        store->release(met.applied, at, limits::wall_micros(), met.locks());
      } else if (auto r = redis.lock()) {
        r->release(met.applied, id);
      }
    }
    LimitHold() = default;
    LimitHold(const LimitHold&) = delete;
    LimitHold& operator=(const LimitHold&) = delete;
    ~LimitHold() { release(); }
  } limit;
};

std::string class_counts(const std::map<std::string, uint32_t, std::less<>>& counts) {
  std::string out;
  for (const auto& [cls, n] : counts) {
    if (!out.empty()) out += ", ";
    out += cls + " (" + std::to_string(n) + ")";
  }
  return out;
}

// A request id from the client is kept when it is short and plain; otherwise one is made.
std::string request_id_for(Worker& worker, const Request& req) {
  const auto it = req.find("x-request-id");
  if (it != req.end()) {
    const std::string_view v = it->value();
    bool ok = !v.empty() && v.size() <= 128;
    for (char c : v) {
      if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_' || c == '.' ||
            c == ':'))
        ok = false;
    }
    if (ok) return std::string(v);
  }
  return worker.next_request_id();
}

struct Route {
  std::string_view name;
  bool is_models = false;
  CallKind kind = CallKind::kChat;
  ErrorShape shape = ErrorShape::kOpenAI;  // errors in the shape of the route's API
  // A response the upstream keeps (GET/DELETE /v1/responses/{id}, POST …/{id}/cancel): the
  // method it is sent with; empty for a new call.
  std::string_view stored_method = {};
};

// The id and what follows it in /v1/responses/{id}[/cancel][?query]; false for other paths.
struct StoredPath {
  std::string_view id;
  bool cancel = false;
  std::string_view query;  // after '?', without it
};
bool stored_path(std::string_view target, StoredPath& out) {
  if (const size_t q = target.find('?'); q != std::string_view::npos) {
    out.query = target.substr(q + 1);
    target = target.substr(0, q);
  }
  for (const std::string_view prefix : {"/v1/responses/", "/responses/"}) {
    if (target.substr(0, prefix.size()) != prefix) continue;
    std::string_view rest = target.substr(prefix.size());
    constexpr std::string_view kCancel = "/cancel";
    if (rest.size() > kCancel.size() && rest.substr(rest.size() - kCancel.size()) == kCancel) {
      out.cancel = true;
      rest.remove_suffix(kCancel.size());
    }
    if (rest.empty() || rest.find('/') != std::string_view::npos) return false;
    out.id = rest;
    return true;
  }
  return false;
}

// The routes, by path (with and without the /v1 prefix OpenAI's clients may leave out).
const Route* find_route(std::string_view path) {
  static const std::pair<std::string_view, Route> kRoutes[] = {
      {"/v1/chat/completions", {"chat", false, CallKind::kChat}},
      {"/chat/completions", {"chat", false, CallKind::kChat}},
      {"/v1/completions", {"completions", false, CallKind::kCompletion}},
      {"/completions", {"completions", false, CallKind::kCompletion}},
      {"/v1/embeddings", {"embeddings", false, CallKind::kEmbedding}},
      {"/embeddings", {"embeddings", false, CallKind::kEmbedding}},
      {"/v1/models", {"models", true, CallKind::kChat}},
      {"/models", {"models", true, CallKind::kChat}},
      {"/v1/messages", {"messages", false, CallKind::kMessages, ErrorShape::kAnthropic}},
      {"/v1/messages/count_tokens",
       {"count_tokens", false, CallKind::kCountTokens, ErrorShape::kAnthropic}},
      {"/v1/responses", {"responses", false, CallKind::kResponses}},
      {"/responses", {"responses", false, CallKind::kResponses}},
  };
  if (const size_t q = path.find('?'); q != std::string_view::npos) path = path.substr(0, q);
  for (const auto& [p, r] : kRoutes) {
    if (p == path) return &r;
  }
  return nullptr;
}

// Stage 0: which endpoint, and is the method right for it.
Result<Route> route(const Request& req) {
  const Route* r = find_route(req.target());
  if (StoredPath sp; r == nullptr && stored_path(req.target(), sp)) {
    // POST /v1/responses/{x} is a route OpenAI may add (input_tokens, compact): unknown here.
    const http::verb m = req.method();
    if (sp.cancel ? m == http::verb::post : (m == http::verb::get || m == http::verb::delete_)) {
      return Route{sp.cancel              ? "responses.cancel"
                   : m == http::verb::get ? "responses.retrieve"
                                          : "responses.delete",
                   false, CallKind::kResponses, ErrorShape::kOpenAI,
                   sp.cancel ? "POST" : (m == http::verb::get ? "GET" : "DELETE")};
    }
    if (!sp.cancel && m == http::verb::post)
      return make_error(ErrorCode::kNotFound, "Unknown route.");
    return make_error(ErrorCode::kMethodNotAllowed,
                      sp.cancel ? "Use POST on this route." : "Use GET or DELETE on this route.");
  }
  if (r == nullptr) return make_error(ErrorCode::kNotFound, "Unknown route.");
  const auto want = r->is_models ? http::verb::get : http::verb::post;
  if (req.method() != want) {
    return make_error(ErrorCode::kMethodNotAllowed,
                      std::string("Use ") + (r->is_models ? "GET" : "POST") + " on this route.");
  }
  return *r;
}

std::string_view credential(const Request& req) {
  // Anthropic's clients send their key as x-api-key.
  std::string_view key_header = req["api-key"];
  if (key_header.empty()) key_header = req["x-api-key"];
  return presented_key(req[http::field::authorization], key_header);
}

// A Bearer value is a token when issuers are configured and it has a JWS's shape; anything else
// is an API key (cheap: an API key without two dots is told apart by one scan).
bool is_token(const Config& config, std::string_view presented) {
  return !config.jwt.issuers.empty() && identity::looks_like_jws(presented);
}

int64_t unix_seconds() {
  return std::chrono::duration_cast<std::chrono::seconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// Stage 1 for a token: the worker's cache by digest, else the signature and claims against the
// issuer's keys (fetched off this loop when there are none yet, they are stale, or the `kid` is
// unknown).
net::awaitable<Result<const Principal*>> authenticate_token(Worker& worker, const Config& config,
                                                            std::string_view token,
                                                            RequestContext& ctx) {
  const int64_t now = unix_seconds();
  const Digest digest = sha256(token);
  if (const identity::VerifiedToken* hit = worker.token_cache().find(digest, now)) {
    ctx.token_principal = hit->principal;
    co_return ctx.token_principal.get();
  }
  auto parsed = identity::parse_jws(token);
  if (!parsed) co_return parsed.error();
  const identity::IssuerConfig* issuer = config.jwt.find(parsed->iss);
  if (issuer == nullptr)
    co_return make_error(ErrorCode::kUnauthenticated, "Invalid token: unknown issuer.");
  identity::KeySetPtr keys = issuer->file_keys;
  if (!keys && worker.jwks() != nullptr) {
    bool stale = false;
    keys = worker.jwks()->keys(*issuer, stale);
    if (!keys || stale || keys->find(parsed->kid) == nullptr)
      keys = co_await worker.jwks()->refresh(*issuer);
  }
  if (!keys) {
    co_return make_error(ErrorCode::kUnauthenticated,
                         "Invalid token: the issuer's keys cannot be had.");
  }
  auto verified = identity::verify(*parsed, *issuer, *keys, now);
  if (!verified) co_return verified.error();
  ctx.token_principal = verified->principal;
  worker.token_cache().insert(digest, std::move(*verified), now, config.jwt.cache_entries);
  co_return ctx.token_principal.get();
}

// Stage 1, the device: a verified client certificate (mTLS), or one a configured fronting proxy
// verified (X-Forwarded-Client-Cert), and a signed posture token (x-device-posture) bound to
// the certificate's device or to the device the caller's token names. Posture with nothing to
// bind it to could be replayed by anyone who saw it: device.bound is false and its managed,
// compliant and disk_encrypted claims and its labels are not believed.
Result<bool> identify_device(const Config& config, const Request& req, RequestContext& ctx) {
  policy::Device& d = ctx.device;
  std::string_view subject;
  std::string forwarded_subject;
  if (!ctx.client->device_id.empty()) {
    d.present = true;
    d.id = std::string(ctx.client->device_id);
    subject = ctx.client->subject;
    ctx.auth_methods |= policy::kAuthMtls;
  }
  if (const auto xfcc = req.find("x-forwarded-client-cert"); xfcc != req.end()) {
    const auto& from = config.device.forwarded_cert_from;
    if (std::find(from.begin(), from.end(), ctx.client->address) == from.end()) {
      return make_error(ErrorCode::kUnauthenticated,
                        "X-Forwarded-Client-Cert is accepted only from a configured proxy.");
    }
    if (d.id.empty()) {
      identity::ForwardedCert fc = identity::forwarded_cert(xfcc->value());
      if (fc.malformed) {
        return make_error(ErrorCode::kUnauthenticated,
                          "Invalid X-Forwarded-Client-Cert: its Hash is not a SHA-256 in hex.");
      }
      if (fc.device_id.empty()) {
        return make_error(ErrorCode::kUnauthenticated,
                          "Invalid X-Forwarded-Client-Cert: it names no device (URI, CN or Hash).");
      }
      d.id = std::move(fc.device_id);
      forwarded_subject = std::move(fc.subject);
      subject = forwarded_subject;
      d.present = true;
      ctx.auth_methods |= policy::kAuthMtls;
    }
  }
  for (const auto& [label, attribute] : config.device.certificate_labels) {
    if (std::string v = identity::subject_attribute(subject, attribute); !v.empty())
      d.labels[label] = std::move(v);
  }
  return true;
}

// Stage 1, the device's posture token (when the request has one). Its keys from a jwks_uri are
// fetched like an issuer's: off this loop, shared, rate-limited.
net::awaitable<Result<bool>> read_posture(Worker& worker, const Config& config,
                                          std::string_view token, RequestContext& ctx) {
  policy::Device& d = ctx.device;
  const identity::PostureConfig& pc = config.device.posture;
  if (!pc.accepted()) {
    co_return make_error(
        ErrorCode::kUnauthenticated,
        "Device posture tokens are not accepted here (no posture key is configured).");
  }
  auto parsed = identity::parse_jws(token);
  if (!parsed) {
    co_return make_error(ErrorCode::kUnauthenticated,
                         "Invalid device posture token: not a signed JWT.");
  }
  identity::KeySetPtr keys = pc.keys;
  if (!keys && worker.jwks() != nullptr) {
    bool stale = false;
    keys = worker.jwks()->keys(pc.source, stale);
    if (!keys || stale || keys->find(parsed->kid) == nullptr)
      keys = co_await worker.jwks()->refresh(pc.source);
  }
  if (!keys) {
    co_return make_error(ErrorCode::kUnauthenticated,
                         "Invalid device posture token: its keys cannot be had.");
  }
  auto posture = identity::verify_posture(*parsed, pc, *keys, unix_seconds());
  if (!posture) co_return posture.error();
  if (!*posture) co_return true;  // too old: as if absent
  identity::Posture& p = **posture;
  const std::string_view token_device = ctx.principal ? ctx.principal->device_id : "";
  const std::string_view bind_to = !d.id.empty() ? std::string_view(d.id) : token_device;
  if (!bind_to.empty() && p.device_id != bind_to) {
    co_return make_error(ErrorCode::kUnauthenticated,
                         "Invalid device posture token: it is for another device.");
  }
  d.present = true;
  d.bound = !bind_to.empty();
  if (d.id.empty()) d.id = p.device_id;
  d.managed = d.bound && p.managed;
  d.compliant = d.bound && p.compliant;
  d.disk_encrypted = d.bound && p.disk_encrypted;
  d.os = p.os;
  d.os_version = p.os_version;
  d.patch_age_days = p.patch_age_days;
  d.posture_age_s = p.age_s;
  // The certificate's labels stand: a posture token adds only labels the certificate lacks.
  if (d.bound) d.labels.merge(p.labels);
  co_return true;
}

bool is_json_content_type(std::string_view ct) {
  const size_t semi = ct.find(';');
  std::string_view media = ct.substr(0, semi);
  while (!media.empty() && media.back() == ' ') media.remove_suffix(1);
  return media.size() == 16 && strncasecmp(media.data(), "application/json", 16) == 0;
}

// Stage 2: what is asked.
Result<Call> parse(Worker& worker, const Request& req, CallKind kind) {
  if (!is_json_content_type(req[http::field::content_type])) {
    return make_error(ErrorCode::kUnsupportedMedia, "The request body must be application/json.");
  }
  return parse_call(kind, req.body(), worker.json());
}

// Header lines the upstream needs besides the body: Anthropic's API version, the client's when
// it names one (a date or a plain token: nothing else is forwarded), else the provider's
// `api_version`, else the first version of the Messages API; and the client's `anthropic-beta`
// features when they are a plain list of tokens (a header Warden cannot read as such is not
// forwarded: 400).
Result<std::string> upstream_head(const Request& req, CallKind kind) {
  if (kind != CallKind::kMessages && kind != CallKind::kCountTokens) return std::string();
  auto plain = [](std::string_view v, bool list) {
    if (v.size() > (list ? 512 : 32)) return false;
    for (char c : v) {
      if (!std::isalnum(static_cast<unsigned char>(c)) && c != '-' && c != '.' && c != '_' &&
          !(list && (c == ',' || c == ' ')))
        return false;
    }
    return true;
  };
  const std::string_view v = req["anthropic-version"];
  if (!plain(v, false))
    return make_error(ErrorCode::kInvalidRequest, "The anthropic-version header is malformed.");
  std::string head;
  if (!v.empty()) head = "anthropic-version: " + std::string(v) + "\r\n";
  // Empty: the deployment's provider decides (forward stage).
  const std::string_view beta = req["anthropic-beta"];
  if (!plain(beta, true))
    return make_error(ErrorCode::kInvalidRequest, "The anthropic-beta header is malformed.");
  if (!beta.empty()) head += "anthropic-beta: " + std::string(beta) + "\r\n";
  return head;
}

// Stage 3: which deployments could serve the model, in preference order.
Result<std::vector<const Deployment*>> resolve(const Config& config, const Call& call,
                                               RequestContext& ctx) {
  const Model* model = config.catalog.find(call.model);
  if (model == nullptr) {
    return make_error(ErrorCode::kModelNotFound,
                      "The model '" + std::string(call.model.substr(0, 128)) + "' does not exist.");
  }
  if (!model->serves(call.kind)) {
    return make_error(ErrorCode::kInvalidRequest,
                      "The model '" + model->name + "' does not serve " +
                          std::string(call_kind_name(call.kind)) + " requests.");
  }
  ctx.model = model;
  std::vector<const Deployment*> candidates;
  candidates.reserve(model->deployments.size());
  // Each API goes only to deployments whose provider speaks it (no translation between APIs).
  for (const Deployment& d : model->deployments) {
    if (provider_serves(d.provider->kind, call.kind)) candidates.push_back(&d);
  }
  if (candidates.empty()) {
    return make_error(ErrorCode::kModelNotFound,
                      "The model '" + model->name + "' has no deployment that serves " +
                          std::string(call_kind_name(call.kind)) + " requests.");
  }
  return candidates;
}

// The API whose ids and signed output Warden binds to their deployment (inspect/binding.h).
std::optional<inspect::BindApi> bind_api(CallKind kind) {
  switch (kind) {
    case CallKind::kMessages:
    case CallKind::kCountTokens:
      return inspect::BindApi::kMessages;
    case CallKind::kResponses:
      return inspect::BindApi::kResponses;
    default:
      return std::nullopt;
  }
}

// Stage 2, what comes back: a previous_response_id and signed model output are unwrapped, and
// name the deployment the conversation stays on. An id Warden did not give this caller, or a
// signed value whose binding does not hold, is refused here and reaches no upstream.
Result<bool> unbind(Worker& worker, std::string_view body, RequestContext& ctx) {
  const std::optional<inspect::BindApi> api = bind_api(ctx.call.kind);
  if (!api) return true;
  ctx.binding = inspect::unbind_request(worker.binder(), *api, ctx.principal->id, body);
  switch (ctx.binding.status) {
    case inspect::RequestBinding::kOk:
      return true;
    case inspect::RequestBinding::kForgedId:
      return make_error(ErrorCode::kInvalidRequest,
                        "previous_response_id is not the id of a response made for you through "
                        "this gateway.");
    case inspect::RequestBinding::kForgedSigned:
      return make_error(ErrorCode::kInvalidRequest,
                        "Signed or encrypted model output in the request was altered.");
    case inspect::RequestBinding::kMixed:
      break;
  }
  return make_error(ErrorCode::kForbidden,
                    "The request sends back output of two deployments; each may go back only to "
                    "the deployment that made it. Request id: " +
                        ctx.request_id + ".");
}

// Stage 3, for a conversation bound to a deployment: that one only, or 403 — never a silent
// move to another (its stored state and signed output are there).
Result<bool> pin(std::vector<const Deployment*>& candidates, const RequestContext& ctx) {
  const std::string& bound = ctx.binding.deployment;
  if (bound.empty()) return true;
  for (const Deployment* d : candidates) {
    if (d->name == bound) {
      candidates = {d};
      return true;
    }
  }
  return make_error(ErrorCode::kForbidden, "The conversation is bound to deployment '" + bound +
                                               "', which does not serve model '" + ctx.model->name +
                                               "' for this request. Request id: " + ctx.request_id +
                                               ".");
}

// Stage 4: what would cross — every string value of the body. A large body is inspected on the
// inspection pool (server/offload.h) while this worker serves its other connections: one
// adversarial megabyte takes ~0.2 s. Below kPooledBytes the hand-off costs more than the scan.
// The work a request may cause is bounded (Scratch::limit_work): kWorkPerByte region bytes per
// body byte, plus kWorkFloor; beyond it the request is refused as uninspectable.
constexpr size_t kPooledBytes = 64 * 1024;
constexpr uint64_t kWorkPerByte = 64;
constexpr uint64_t kWorkFloor = 4 << 20;

net::awaitable<Result<bool>> inspect_request(Worker& worker, const Config& config,
                                             std::string_view body, RequestContext& ctx) {
  const InspectConfig& ic = config.inspect;
  if (!ic.enabled) co_return true;
  const uint64_t budget = kWorkFloor + kWorkPerByte * body.size();
  inspect::BodyScanStatus status = inspect::BodyScanStatus::kScanFailed;
  bool over_budget = false;
  // Token ids are read with the model's tokenizer where it is known (else uninspectable.tokens);
  // custom detectors may match any key or number.
  const tokenizer::Tokenizer* tk = ctx.model->tokenizer;
  const inspect::TokenDecoder decode = [tk](std::span<const uint32_t> ids, std::string& text) {
    text.clear();
    return tk->decode(ids, text);
  };
  inspect::BodyScanOptions options;
  options.decode_tokens = tk != nullptr ? &decode : nullptr;
  options.scan_all_keys = !ic.custom.empty();
  auto scan = [&](inspect::Scratch& scratch) {
    scratch.limit_work(budget);
    status = inspect::scan_body(*ic.engine, scratch, body, ctx.request_scan, options);
    over_budget = scratch.work_exceeded();
    scratch.limit_work(UINT64_MAX);
  };
  if (body.size() > kPooledBytes && worker.inspect_pool() != nullptr) {
    co_await run_on(*worker.inspect_pool(), [&] {
      thread_local inspect::Scratch pool_scratch;  // one per pool thread
      scan(pool_scratch);
    });
  } else {
    scan(worker.scan_scratch());
  }
  if (over_budget) {
    co_return make_error(ErrorCode::kInspectionWork,
                         "The request cannot be inspected: it holds more candidates than a "
                         "request may cause work for.");
  }
  switch (status) {
    case inspect::BodyScanStatus::kOk:
      break;
    case inspect::BodyScanStatus::kTooDeep:
      co_return make_error(ErrorCode::kUninspectable,
                           "The request cannot be inspected: JSON nested too deeply.");
    case inspect::BodyScanStatus::kScanFailed:
      co_return make_error(ErrorCode::kUninspectable, "The request cannot be inspected.");
  }
  // Signed output bound to the deployment that made it goes back there untouched (contract §3).
  inspect::exempt_bound(ctx.request_scan, ctx.binding);
  for (const auto& [cls, n] : ctx.request_scan.counts)
    worker.metrics().count_findings(cls, "request", n);
  co_return true;
}

// The attributes decide() reads, for one request (the deployment is set per candidate).
policy::Attributes attributes(const RequestContext& ctx, std::vector<std::string_view> classes) {
  policy::Attributes a;
  a.principal = ctx.principal;
  a.device = &ctx.device;
  a.auth_methods = ctx.auth_methods;
  a.model = ctx.model;
  a.request = {ctx.call.kind,         ctx.call.stream,   ctx.call.estimated_input_tokens,
               ctx.call.has_tools,    ctx.call.store,    true,
               ctx.call.server_tools, ctx.call.mcp_hosts};
  a.classes = std::move(classes);
  a.hour = ctx.hour;
  a.weekday = ctx.weekday;
  return a;
}

// Stage 5: decide — one plan for the request (policy/plan.h): classes whose configured action is
// block are refused before any deployment is considered; per candidate deployment, permit or deny
// with the rules behind it, the transforms and the answer's actions.
// Stage 6: the permitted deployments' transforms become splices of the body.
Result<bool> decide(const Config& config, const std::vector<const Deployment*>& candidates,
                    RequestContext& ctx) {
  const InspectConfig& ic = config.inspect;
  std::vector<std::string_view> classes;
  for (const auto& [cls, n] : ctx.request_scan.counts) classes.push_back(cls);
  const policy::Attributes attrs = attributes(ctx, classes);
  ctx.plan = policy::plan(*config.policy, ic.enabled ? &ic.actions : nullptr, attrs, candidates,
                          {&ctx.request_scan.counts, &ctx.request_scan.places});
  if (!ctx.plan.blocked.empty()) {
    return make_error(ErrorCode::kSensitiveData, "The request contains data that may not leave: " +
                                                     class_counts(ctx.plan.blocked) +
                                                     ". Request id: " + ctx.request_id + ".");
  }
  for (const policy::DeploymentPlan& p : ctx.plan.deployments) {
    if (!p.permit) {
      for (std::string_view r : p.decision.rules) ctx.decision_rules.push_back(r);
      continue;
    }
    if (ctx.permitted.empty()) ctx.decision_rules = p.decision.rules;
    bool unmaskable = false;
    std::vector<inspect::Splice> splices =
        inspect::plan_transform(ctx.request_scan, p.request_actions, ctx.pseudonyms, &unmaskable);
    if (unmaskable) continue;  // the plan denies these first; never forward what stayed
    ctx.permitted.emplace_back(p.deployment, std::move(splices));
  }
  if (ctx.permitted.empty()) {
    return make_error(ErrorCode::kForbidden, "Policy denies model '" + ctx.model->name +
                                                 "' for this request (" +
                                                 ctx.plan.denials(*config.policy, attrs) +
                                                 "). Request id: " + ctx.request_id + ".");
  }
  return true;
}

// Stage 7: limit — the request's worst case is reserved against every limit it meets, all or
// nothing; a request that does not fit is refused here (429) and reaches no upstream.
// Input is bounded by the body's bytes: every token holds at least one byte, so the bound is
// never short, and with max_tokens given nothing is overspent. When that bound does not fit and
// the model has a tokenizer, the body is counted with it (tighter: the JSON around the text
// stands in for the chat template's tokens) and tried again — counting costs ~200 instructions a
// byte (tokenizer.h), so only the requests it can change pay for it.
constexpr size_t kCountedBytes = 64 * 1024;

// OpenAI's headers for the most restrictive limit of the outcome (x-ratelimit-*-<measure>); the
// names and the limit's text were written once per snapshot (Settings::prepare).
void rate_headers(Responder& out, const limits::Settings& ls, const RequestContext::LimitHold& h,
                  const limits::Outcome& o) {
  if (o.limiting >= h.met.applied.size()) return;
  const limits::Rule& rule = ls.rules[h.met.rule_of[o.limiting]];
  const limits::Verdict& v = o.verdicts[o.limiting];
  // The three lines in one append, the two values written in place (no string per value).
  char lines[256];
  char* p = lines;
  if (rule.header_head.size() + rule.header_mid.size() + 2 * limits::kTextChars + 2 > sizeof lines)
    return;  // not with the measures' names and a limit of 27 characters at most
  p = std::copy(rule.header_head.begin(), rule.header_head.end(), p);
  p = limits::amount_chars(p, rule.measure, v.remaining);
  p = std::copy(rule.header_mid.begin(), rule.header_mid.end(), p);
  p = limits::reset_chars(p, v.reset);
  *p++ = '\r';
  *p++ = '\n';
  out.add_header_lines(std::string_view(lines, static_cast<size_t>(p - lines)));
  if (!o.allowed) {
    const int64_t seconds = std::max<int64_t>(1, (v.retry_after + 999'999) / 1'000'000);
    out.add_header("Retry-After", std::to_string(seconds));
  }
}

// The limits `subject` meets at the request's current bounds (h.input_tokens may shrink once).
void meet(Worker& worker, const limits::Settings& ls, limits::Subject& subject,
          RequestContext::LimitHold& h) {
  subject.tokens = h.input_tokens + h.output_tokens;
  subject.spend = limits::micro_cost(h.price.input_per_mtok, h.price.output_per_mtok,
                                     h.input_tokens, h.output_tokens);
  subject.energy = limits::micro_cost(h.energy.wh_per_mtok_in, h.energy.wh_per_mtok_out,
                                      h.input_tokens, h.output_tokens);
  worker.limit_keys().meet(ls, subject, h.met, ls.redis.empty() ? &worker.limits() : nullptr);
}

// Whether a refused reservation is worth a second try with the input counted by the model's
// tokenizer (tighter than the body's bytes); h.input_tokens then holds the count.
bool count_input(const limits::Outcome& o, const Model& model, std::string_view body,
                 RequestContext::LimitHold& h) {
  if (o.allowed || model.tokenizer == nullptr || body.size() > kCountedBytes) return false;
  const auto counted = static_cast<int64_t>(model.tokenizer->count(body));
  if (counted >= h.input_tokens) return false;
  h.input_tokens = counted;
  return true;
}

// Reserves for `subject` (one candidate deployment, or none) in the in-process store. Not a
// coroutine: the in-process store never waits.
void reserve_here(Worker& worker, const limits::Settings& ls, limits::Subject subject,
                  const Model& model, std::string_view body, RequestContext::LimitHold& h,
                  limits::Outcome& o) {
  for (int attempt = 0; attempt < 2; ++attempt) {
    meet(worker, ls, subject, h);
    if (h.met.applied.empty()) {
      o.allowed = true;
      o.verdicts.clear();
      return;
    }
    h.at = limits::wall_micros();
    worker.limits().reserve(h.met.applied, h.at, h.met.locks(), o);
    h.store = &worker.limits();
    if (attempt > 0 || !count_input(o, model, body, h)) break;
  }
}

// The same in Redis (one round trip per try); nullopt when Redis could not answer.
net::awaitable<std::optional<limits::Outcome>> reserve_in_redis(
    Worker& worker, const limits::Settings& ls, limits::Subject subject, const Model& model,
    std::string_view body, RequestContext::LimitHold& h) {
  std::optional<limits::Outcome> o;
  for (int attempt = 0; attempt < 2; ++attempt) {
    meet(worker, ls, subject, h);
    if (h.met.applied.empty()) {
      o = limits::Outcome{};
      o->allowed = true;
      co_return o;
    }
    if (h.id.empty()) h.id = worker.next_request_id();
    h.redis = worker.redis_limits();
    o = co_await worker.redis_limits()->reserve({ls.redis, ls.sentinels, ls.sentinel_master},
                                                h.met.applied, h.id, ls.lease,
                                                std::chrono::milliseconds(ls.redis_timeout_ms));
    if (!o || attempt > 0 || !count_input(*o, model, body, h)) break;
  }
  co_return o;
}

// What each limit had left after the reservation (or when it was refused), for the audit record.
void keep_remaining(RequestContext::LimitHold& h, const limits::Outcome& o) {
  h.remaining.clear();
  for (const limits::Verdict& v : o.verdicts) h.remaining.push_back(v.remaining);
}

// The store did not answer: each rule met does what it is configured to do. One that fails
// closed (the default) refuses the request (503); when every one fails open, it passes unlimited.
Result<bool> store_unavailable(Worker& worker, const limits::Settings& ls,
                               RequestContext::LimitHold& h) {
  h.store_failed = true;
  for (const uint16_t r : h.met.rule_of) {
    if (!ls.rules[r].fail_open) {
      worker.metrics().count_limit_store_failure(false);
      return make_error(ErrorCode::kLimitStoreUnavailable,
                        "The limit store is unavailable; try later.");
    }
  }
  worker.metrics().count_limit_store_failure(true);
  return true;
}

// Reserved: the hold is kept and the answer tells how much is left.
void reserved(const limits::Settings& ls, RequestContext::LimitHold& h, const limits::Outcome& o,
              Responder& out) {
  keep_remaining(h, o);
  h.held = !h.met.applied.empty();
  rate_headers(out, ls, h, o);
}

// Refused (429): the rule that refused, in the answer, its headers and the metrics.
GatewayError refusal(Worker& worker, const limits::Settings& ls, RequestContext& ctx,
                     const limits::Outcome& refused, Responder& out) {
  RequestContext::LimitHold& h = ctx.limit;
  keep_remaining(h, refused);
  const limits::Rule& rule = ls.rules[h.met.rule_of[refused.limiting]];
  h.refused = rule.name;
  worker.metrics().count_limit_rejection(rule.name);
  rate_headers(out, ls, h, refused);
  return make_error(ErrorCode::kLimitExceeded,
                    "Rate limit '" + rule.name + "' reached: " + rule.limit_text + " " +
                        std::string(limits::unit_name(rule.measure, ls.currency)) +
                        (rule.per.empty() ? std::string(" at once") : " per " + rule.per) +
                        ". Request id: " + ctx.request_id + ".");
}

// Stage 7's setup: the hold's bounds and the request's subject. Without a rule keyed by
// deployment, one reservation covers whichever permitted deployment answers (failover): its worst
// case is at the highest price and energy figures. With one, a deployment over its own limits is
// passed over like a denied one; the request goes to the first that fits, and only there (its
// limits were reserved for it alone). Refused by all, the answer tells of the first candidate's
// limit (met again: keys live in the hold).
limits::Subject limit_subject(const limits::Settings& ls, std::string_view body,
                              const std::vector<const Deployment*>& permitted,
                              RequestContext& ctx) {
  RequestContext::LimitHold& h = ctx.limit;
  h.settings = &ls;
  h.input_tokens = static_cast<int64_t>(body.size());
  h.output_tokens = ctx.call.kind == CallKind::kEmbedding ? 0
                    : ctx.call.max_output_tokens >= 0     ? ctx.call.max_output_tokens
                                                          : ls.default_max_tokens;
  limits::Subject subject;
  subject.principal = ctx.principal->id;
  subject.team = ctx.principal->team;
  subject.labels = &ctx.principal->labels;
  subject.model = ctx.model->name;
  subject.stream = ctx.call.stream;
  for (const Deployment* d : permitted) {
    h.price.input_per_mtok = std::max(h.price.input_per_mtok, d->price.input_per_mtok);
    h.price.output_per_mtok = std::max(h.price.output_per_mtok, d->price.output_per_mtok);
    h.energy.wh_per_mtok_in = std::max(h.energy.wh_per_mtok_in, d->energy.wh_per_mtok_in);
    h.energy.wh_per_mtok_out = std::max(h.energy.wh_per_mtok_out, d->energy.wh_per_mtok_out);
  }
  return subject;
}

// Before each try of candidate `d` (rules keyed by deployment): its name and figures.
void limit_candidate(const limits::Settings& ls, limits::Subject& subject, const Deployment& d,
                     RequestContext::LimitHold& h) {
  if (!ls.by_deployment) return;
  subject.deployment = d.name;
  h.price = d.price;
  h.energy = d.energy;
}

// What try `i`'s outcome `o` means: an answer (reserved, refused, store unavailable), or nullopt:
// try the next candidate.
std::optional<Result<bool>> limit_tried(Worker& worker, const limits::Settings& ls,
                                        std::vector<const Deployment*>& permitted, size_t i,
                                        const limits::Outcome* o, limits::Outcome& first_refused,
                                        RequestContext& ctx, Responder& out) {
  RequestContext::LimitHold& h = ctx.limit;
  if (!o) return store_unavailable(worker, ls, h);
  if (o->allowed) {
    reserved(ls, h, *o, out);
    if (ls.by_deployment) permitted = {permitted[i]};
    return true;
  }
  if (!ls.by_deployment) return refusal(worker, ls, ctx, *o, out);
  h.skipped.push_back(permitted[i]->name);
  if (i == 0) first_refused = *o;
  return std::nullopt;
}

// Every candidate refused the request: the first one's limit answers.
GatewayError refused_by_all(Worker& worker, const limits::Settings& ls, limits::Subject& subject,
                            const std::vector<const Deployment*>& permitted,
                            const limits::Outcome& first_refused, RequestContext& ctx,
                            Responder& out) {
  RequestContext::LimitHold& h = ctx.limit;
  subject.deployment = permitted.front()->name;
  h.price = permitted.front()->price;
  h.energy = permitted.front()->energy;
  meet(worker, ls, subject, h);
  return refusal(worker, ls, ctx, first_refused, out);
}

// Stage 7 with the in-process store: a plain call (a coroutine frame cost ~500 instructions a
// request, bench/callgrind.sh LIMITS=4).
Result<bool> limit_here(Worker& worker, const Config& config, std::string_view body,
                        std::vector<const Deployment*>& permitted, RequestContext& ctx,
                        Responder& out) {
  const limits::Settings& ls = config.limits;
  if (permitted.empty()) return true;  // nothing will be forwarded (stage 5 refuses first)
  limits::Subject subject = limit_subject(ls, body, permitted, ctx);
  limits::Outcome first_refused;
  const size_t tries = ls.by_deployment ? permitted.size() : 1;
  for (size_t i = 0; i < tries; ++i) {
    limit_candidate(ls, subject, *permitted[i], ctx.limit);
    limits::Outcome o;
    reserve_here(worker, ls, subject, *ctx.model, body, ctx.limit, o);
    if (auto done = limit_tried(worker, ls, permitted, i, &o, first_refused, ctx, out))
      return *std::move(done);
  }
  return refused_by_all(worker, ls, subject, permitted, first_refused, ctx, out);
}

// Stage 7 with the Redis store: each try is a round trip.
net::awaitable<Result<bool>> limit_in_redis(Worker& worker, const Config& config,
                                            std::string_view body,
                                            std::vector<const Deployment*>& permitted,
                                            RequestContext& ctx, Responder& out) {
  const limits::Settings& ls = config.limits;
  if (permitted.empty()) co_return true;
  limits::Subject subject = limit_subject(ls, body, permitted, ctx);
  limits::Outcome first_refused;
  const size_t tries = ls.by_deployment ? permitted.size() : 1;
  for (size_t i = 0; i < tries; ++i) {
    limit_candidate(ls, subject, *permitted[i], ctx.limit);
    const std::optional<limits::Outcome> o =
        co_await reserve_in_redis(worker, ls, subject, *ctx.model, body, ctx.limit);
    if (auto done =
            limit_tried(worker, ls, permitted, i, o ? &*o : nullptr, first_refused, ctx, out)) {
      // A request may outlast its lease (a long stream): Redis would give its holding back.
      RequestContext::LimitHold& h = ctx.limit;
      if (h.held) worker.redis_limits()->keep(h.renewal, h.met.applied, h.id);
      co_return *std::move(done);
    }
  }
  co_return refused_by_all(worker, ls, subject, permitted, first_refused, ctx, out);
}

// The body for one deployment: its masks and pseudonyms applied, `model` rewritten.
// When a token limit needs the usage of a stream the client did not ask usage for,
// `"stream_options":{"include_usage":true},` is inserted at the top of the body (contract §1.3).
std::string body_for(std::string_view body, const RequestContext& ctx, const Deployment& d) {
  std::span<const inspect::Splice> splices;
  for (const auto& [dep, s] : ctx.permitted) {
    if (dep == &d) splices = s;
  }
  // Bound values unwrapped: they lie in strings no mask touches (exempt_bound).
  std::vector<inspect::Splice> unwrapped;
  if (!ctx.binding.splices.empty()) {
    unwrapped.assign(splices.begin(), splices.end());
    unwrapped.insert(unwrapped.end(), ctx.binding.splices.begin(), ctx.binding.splices.end());
    std::sort(unwrapped.begin(), unwrapped.end(),
              [](const inspect::Splice& a, const inspect::Splice& b) { return a.begin < b.begin; });
    splices = unwrapped;
  }
  const inspect::Splice model{static_cast<uint32_t>(ctx.call.model_offset),
                              static_cast<uint32_t>(ctx.call.model_offset + ctx.call.model_length),
                              json_string(d.upstream_model)};
  if (!ctx.usage_added) return inspect::apply_splices(body, splices, &model);
  // First in order: every other splice lies inside the object, after its opening brace.
  std::vector<inspect::Splice> with_usage;
  with_usage.reserve(splices.size() + 1);
  const auto brace = static_cast<uint32_t>(body.find('{') + 1);
  with_usage.push_back({brace, brace, R"("stream_options":{"include_usage":true},)"});
  with_usage.insert(with_usage.end(), splices.begin(), splices.end());
  return inspect::apply_splices(body, with_usage, &model);
}

// The input and output tokens a finished request used, to settle its token and spend limits: the
// answer's usage (a side it did not report counts as reserved). Without usage, a stream counts
// one token per event up to the reserved output (an estimate: OpenAI-style streams carry about
// one token per event); a whole answer without usage keeps its worst case. nullopt: nothing to
// count (release).
std::optional<std::pair<int64_t, int64_t>> used_tokens(const RequestContext& ctx, bool answered) {
  const RequestContext::LimitHold& h = ctx.limit;
  if (ctx.usage.reported()) {
    return std::pair{
        ctx.usage.prompt_tokens >= 0 ? ctx.usage.prompt_tokens : h.input_tokens,
        ctx.usage.completion_tokens >= 0 ? ctx.usage.completion_tokens : h.output_tokens};
  }
  if (!answered) return std::nullopt;
  if (ctx.call.stream)
    return std::pair{h.input_tokens,
                     std::min<int64_t>(h.output_tokens, static_cast<int64_t>(ctx.sse_events))};
  return std::pair{h.input_tokens, h.output_tokens};
}

// Settles the request's limits before its last byte goes out, so that a client's next request
// already meets the settled counts. An upstream error without usage gives everything back.
// Spend and energy are counted at the figures of the deployment that answered. True: the
// settlement is for Redis, to be awaited (ctx.limit.redis_settle()).
bool settle_limits(RequestContext& ctx, bool answered) {
  if (!ctx.limit.held) return false;
  const auto used = used_tokens(ctx, answered);
  if (!used) {
    ctx.limit.release();
    return false;
  }
  const Deployment* d = ctx.deployment;
  return ctx.limit.settle(used->first, used->second, d != nullptr ? d->price : ctx.limit.price,
                          d != nullptr ? d->energy : ctx.limit.energy);
}

// The models this caller could use (some deployment permitted for a request without findings).
std::string models_list(const Config& config, const RequestContext& ctx) {
  std::string out = R"({"object":"list","data":[)";
  bool first = true;
  policy::Attributes attrs = attributes(ctx, {});
  std::vector<const Deployment*> deployments;
  const inspect::ActionTable* actions = config.inspect.enabled ? &config.inspect.actions : nullptr;
  for (const Model& m : config.catalog.models) {
    attrs.model = &m;
    deployments.clear();
    for (const Deployment& d : m.deployments) deployments.push_back(&d);
    const bool usable =
        policy::plan(*config.policy, actions, attrs, deployments).first_permitted() != nullptr;
    if (!usable) continue;
    if (!first) out += ',';
    first = false;
    out += R"({"id":)";
    append_json_string(out, m.name);
    out += R"(,"object":"model","created":0,"owned_by":)";
    append_json_string(out, m.developer);
    out += '}';
  }
  out += "]}";
  return out;
}

// What to do with classes in the answer: the rules of the deployment that answered (after a
// failover, not those of the first candidate).
const inspect::ActionTable& answer_actions(const RequestContext& ctx) {
  static const inspect::ActionTable kMaskAll = [] {
    inspect::ActionTable t;
    t.set("", inspect::Action::kMask);  // unreachable: a deployment that answered was planned
    return t;
  }();
  const policy::DeploymentPlan* p = ctx.plan.find(ctx.deployment);
  return p != nullptr ? p->answer_actions : kMaskAll;
}

// An upstream's own 401/403 means the gateway's provider credential is wrong: that is the
// gateway's failure, not the client's, and must not read as "your key is invalid".
int client_status_for(int upstream_status) {
  if (upstream_status == 401 || upstream_status == 403) return 502;
  if (upstream_status >= 500) return 502;
  return upstream_status;
}

// Appends one event carrying `data` (several lines when it holds line breaks).
void append_sse_data(std::string& out, std::string_view data) {
  for (;;) {
    const size_t nl = data.find('\n');
    out += "data: ";
    out.append(data.substr(0, nl));
    out += '\n';
    if (nl == std::string_view::npos) break;
    data.remove_prefix(nl + 1);
  }
  out += '\n';
}

inspect::AnswerStream::Dialect dialect_of(CallKind kind) {
  switch (kind) {
    case CallKind::kMessages:
    case CallKind::kCountTokens:
      return inspect::AnswerStream::Dialect::kMessages;
    case CallKind::kResponses:
      return inspect::AnswerStream::Dialect::kResponses;
    default:
      return inspect::AnswerStream::Dialect::kChat;
  }
}

// Stage 9 (streamed): relay events as they arrive, whole events only, each checked to be JSON.
net::awaitable<Result<bool>> relay_stream(Worker& worker, const Config& config,
                                          upstream::Exchange& ex, Responder& out,
                                          RequestContext& ctx) {
  if (!co_await out.begin_stream(client_status_for(ex.status()), "text/event-stream"))
    co_return false;
  SseSplitter sse;
  GatewayError failure{ErrorCode::kInternal, ""};
  bool failed = false;
  // With inspection on, events are rewritten: text is released through the hold-back window.
  const InspectConfig& ic = config.inspect;
  std::unique_ptr<inspect::AnswerStream> inspector;
  if (ic.enabled) {
    // The configured actions and this deployment's output rules (decide()).
    inspector = std::make_unique<inspect::AnswerStream>(*ic.engine, worker.scan_scratch(),
                                                        ic.hold_back_bytes, answer_actions(ctx),
                                                        ctx.pseudonyms, dialect_of(ctx.call.kind));
  }
  std::string rewritten;
  bool blocked = false;
  auto ended = [] {
    return make_error(ErrorCode::kSensitiveData,
                      "The answer contained data that may not be shown; the stream ended.");
  };
  auto check_event = [&](std::string_view data) {
    ++ctx.sse_events;
    // Usage arrives in the final event when stream_options.include_usage is set.
    bool usage_only = false;
    if (data != "[DONE]" &&
        !read_usage(data, worker.json(), ctx.usage, ctx.usage_added ? &usage_only : nullptr))
      return false;
    if (usage_only) return true;  // asked for by Warden: not the client's to see
    if (ctx.usage_added && !inspector) append_sse_data(rewritten, data);
    if (!inspector) return true;
    const inspect::AnswerOutcome o = inspector->on_data(data, rewritten);
    blocked = blocked || o.blocked;
    return o.ok;
  };
  // Messages and Responses: named events, usage in their own fields; ids and signed output
  // bound to the deployment before they are inspected.
  const std::optional<inspect::BindApi> api = bind_api(ctx.call.kind);
  std::string bound;
  Usage stored_usage;
  auto check_named_event = [&](std::string_view name, std::string_view data) {
    ++ctx.sse_events;
    if (data != "[DONE]" &&
        !read_api_usage(data, worker.json(), ctx.stored ? stored_usage : ctx.usage))
      return false;
    if (api && data != "[DONE]") {
      const inspect::Bound b = inspect::bind_answer(worker.binder(), *api, ctx.deployment->name,
                                                    ctx.principal->id, data, bound, true);
      if (b == inspect::Bound::kInvalid) return false;
      if (b == inspect::Bound::kChanged) data = bound;
    }
    if (!inspector) {
      if (!name.empty()) {
        rewritten += "event: ";
        rewritten += name;
        rewritten += '\n';
      }
      append_sse_data(rewritten, data);
      return true;
    }
    const inspect::AnswerOutcome o = inspector->on_event(name, data, rewritten);
    blocked = blocked || o.blocked;
    return o.ok;
  };
  const bool named = ctx.call.kind != CallKind::kChat && ctx.call.kind != CallKind::kCompletion;
  for (;;) {
    auto piece = co_await ex.read_some();
    if (!piece) {
      failure = piece.error();
      failed = true;
      break;
    }
    if (piece->empty()) {
      if (!sse.empty()) {
        failure = make_error(ErrorCode::kUpstreamUnavailable,
                             "The upstream stream ended inside an event.");
        failed = true;
      }
      break;
    }
    const int64_t whole = sse.feed(*piece);
    if (whole < 0) {
      failure = make_error(ErrorCode::kUpstreamUnavailable, "The upstream sent an oversize event.");
      failed = true;
      break;
    }
    if (whole == 0) continue;
    const std::string_view events = sse.buffered().substr(0, static_cast<size_t>(whole));
    rewritten.clear();
    if (!(named ? for_each_sse_event(events, check_named_event)
                : for_each_sse_data(events, check_event))) {
      failure = make_error(ErrorCode::kUpstreamUnavailable, "The upstream sent a malformed event.");
      failed = true;
      break;
    }
    if (blocked) {
      failure = ended();
      failed = true;
      break;
    }
    // client gone: the caller closes the upstream connection
    const bool rebuilt = inspector != nullptr || ctx.usage_added || named;
    if (!co_await out.stream(rebuilt ? std::string_view(rewritten) : events)) co_return false;
    sse.consume(static_cast<size_t>(whole));
  }
  if (inspector) {
    // What was held back is inspected to its end and sent before the stream ends (after an
    // upstream failure too) — unless it holds a class to end, or the answer was ended already:
    // then nothing more of it goes out.
    if (!failed || failure.code != ErrorCode::kSensitiveData) {
      rewritten.clear();
      const inspect::AnswerOutcome last = inspector->finish(rewritten);
      if (!last.ok || last.blocked) {
        if (!failed) {
          failure = last.ok ? ended()
                            : make_error(ErrorCode::kUpstreamUnavailable,
                                         "The answer cannot be inspected.");
          failed = true;
        }
      } else if (!rewritten.empty() && !co_await out.stream(rewritten) && !failed) {
        co_return false;
      }
    }
    ctx.answer_counts = inspector->counts();
  }
  if (failed) {
    ctx.error_code = error_info(failure.code).code;
    if (settle_limits(ctx, false)) co_await ctx.limit.redis_settle();
    // A stream that fails after it started cannot change its status: the client gets an error
    // event, in the shape of the route's API.
    const std::string event = error_event(out.error_shape(), failure, ctx.request_id);
    co_await out.stream(event);
    co_await out.end_stream();
    co_return failure;
  }
  if (settle_limits(ctx, ex.status() >= 200 && ex.status() < 300))
    co_await ctx.limit.redis_settle();
  co_return co_await out.end_stream();
}

// Stage 9 (whole): read the answer, take its usage, send it on.
net::awaitable<Result<bool>> relay_whole(Worker& worker, const Config& config,
                                         upstream::Exchange& ex, Responder& out,
                                         RequestContext& ctx) {
  auto body = co_await ex.read_all(config.server.max_upstream_body_bytes);
  out.stop_watch();
  if (!body) co_return body.error();
  const bool ok_status = ex.status() >= 200 && ex.status() < 300;
  Usage stored_usage;
  Usage& usage = ctx.stored ? stored_usage : ctx.usage;
  const bool json = ctx.call.kind == CallKind::kMessages || ctx.call.kind == CallKind::kResponses
                        ? read_api_usage(*body, worker.json(), usage)
                        : read_usage(*body, worker.json(), usage);
  if (const auto api = bind_api(ctx.call.kind); api && json) {
    std::string bound;
    if (inspect::bind_answer(worker.binder(), *api, ctx.deployment->name, ctx.principal->id, *body,
                             bound) == inspect::Bound::kChanged)
      *body = std::move(bound);
  }
  // Tokens the upstream spent count even when the answer is then refused below.
  if (settle_limits(ctx, ok_status && json)) co_await ctx.limit.redis_settle();
  if (ok_status && !json) {
    co_return make_error(ErrorCode::kUpstreamUnavailable, "The upstream answer is not valid JSON.");
  }
  // Every answer that is relayed is inspected first, error bodies too (they may echo the prompt).
  if (config.inspect.enabled && client_status_for(ex.status()) == ex.status()) {
    const inspect::AnswerOutcome o =
        inspect::transform_answer(*config.inspect.engine, worker.scan_scratch(),
                                  answer_actions(ctx), ctx.pseudonyms, *body, json);
    if (!o.ok)
      co_return make_error(ErrorCode::kUpstreamUnavailable, "The answer cannot be inspected.");
    ctx.answer_counts = o.counts;
    // A class whose action is block (an output rule's `end`): a stream ends there; a whole
    // answer is not sent at all.
    if (o.blocked) {
      co_return make_error(
          ErrorCode::kSensitiveData,
          "The answer contained data that may not be shown. Request id: " + ctx.request_id + ".");
    }
  }
  const int status = client_status_for(ex.status());
  if (status != ex.status()) {
    co_return make_error(ErrorCode::kUpstreamUnavailable,
                         "The upstream provider answered " + std::to_string(ex.status()) + ".");
  }
  std::string_view ct = ex.content_type();
  co_return co_await out.send(status, ct.empty() ? "application/json" : ct, *body);
}

// Stages 8 and 9. Forward: retries and failover happen before anything is sent to the client;
// a client that goes away meanwhile cancels the upstream exchange. Stream back: the answer of the
// deployment that answered, inspected with its actions.
net::awaitable<Result<bool>> forward_and_relay(Worker& worker, const Config& config, Responder& out,
                                               RequestContext& ctx,
                                               std::span<const Deployment* const> permitted,
                                               const upstream::BodyFor& body_for,
                                               std::string_view head,
                                               const upstream::Target& target) {
  upstream::Cancel cancel;
  out.watch_disconnect([&cancel] { cancel.cancel(); });
  auto forwarded =
      co_await upstream::forward(worker.pool(), worker.metrics(), permitted, ctx.call.kind,
                                 body_for, ctx.request_id, &cancel, head, target);
  if (!forwarded) {
    out.stop_watch();
    ctx.limit.release();  // no upstream answered: the request counts for nothing
    co_return forwarded.error();
  }
  upstream::Exchange& ex = *forwarded->exchange;
  ctx.deployment = forwarded->deployment;
  ctx.attempts = forwarded->attempts;
  ctx.upstream_status = ex.status();
  out.add_header("x-warden-deployment", ctx.deployment->name);

  // 9. stream back
  // (No co_await inside ?: — GCC 12 mis-handles temporaries there.)
  Result<bool> relayed = false;
  if (ex.is_event_stream()) {
    out.stop_watch();  // from here on, a failed write tells that the client is gone
    relayed = co_await relay_stream(worker, config, ex, out, ctx);
  } else {
    relayed = co_await relay_whole(worker, config, ex, out, ctx);
  }
  ex.finish(worker.pool());  // reused only if read whole; a vanished client closes it
  // Settled above when the answer ended; what is still held (the client left mid-answer) is
  // given back.
  ctx.limit.release();
  co_return relayed;
}

// The query of GET /v1/responses/{id}: `stream`, `starting_after` and `include[]` with plain
// values, forwarded as sent; anything else is refused (it would pass unread).
Result<bool> stored_query(std::string_view query, bool& stream) {
  auto plain = [](std::string_view v, bool digits) {
    if (v.empty() || v.size() > 64) return false;
    for (char c : v) {
      const bool ok = digits ? std::isdigit(static_cast<unsigned char>(c)) != 0
                             : std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '_';
      if (!ok) return false;
    }
    return true;
  };
  while (!query.empty()) {
    const size_t amp = query.find('&');
    const std::string_view pair = query.substr(0, amp);
    query = amp == std::string_view::npos ? std::string_view() : query.substr(amp + 1);
    const size_t eq = pair.find('=');
    const std::string_view key = pair.substr(0, eq);
    const std::string_view value =
        eq == std::string_view::npos ? std::string_view() : pair.substr(eq + 1);
    bool ok = false;
    if (key == "stream") {
      ok = value == "true" || value == "false";
      stream = value == "true";
    } else if (key == "starting_after") {
      ok = plain(value, true);
    } else if (key == "include" || key == "include[]" || key == "include%5B%5D") {
      ok = plain(value, false);
    }
    if (!ok) {
      return make_error(ErrorCode::kInvalidRequest, "Unknown or malformed query parameter '" +
                                                        std::string(key.substr(0, 64)) + "'.");
    }
  }
  return true;
}

// GET and DELETE /v1/responses/{id}, POST /v1/responses/{id}/cancel: sent only to the deployment
// the id is bound to, and only when the policy permits that deployment to this caller now (as a
// Responses request without findings); the answer is inspected like any Responses answer. The
// body of a cancel is not forwarded.
net::awaitable<Result<bool>> stored_response(Worker& worker, const Config& config,
                                             const Request& req, Responder& out,
                                             RequestContext& ctx, const Route& r) {
  StoredPath sp;
  stored_path(req.target(), sp);
  ctx.stored = true;
  ctx.call.kind = CallKind::kResponses;
  if (auto q = stored_query(sp.query, ctx.call.stream); !q) co_return q.error();
  std::string name, upstream_id;
  if (worker.binder().unbind(inspect::Binder::Kind::kResponse, ctx.principal->id, sp.id, name,
                             upstream_id) != inspect::Binder::Check::kValid) {
    co_return make_error(ErrorCode::kInvalidRequest,
                         "No response with this id was made for you through this gateway.");
  }
  // The id goes into the upstream's path: one plain segment, as providers make them.
  for (char c : upstream_id) {
    if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '-' || c == '.'))
      co_return make_error(ErrorCode::kInvalidRequest, "The response id cannot be sent on.");
  }
  const Deployment* deployment = nullptr;
  for (const Model& m : config.catalog.models) {
    for (const Deployment& d : m.deployments) {
      if (d.name == name) {
        ctx.model = &m;
        deployment = &d;
      }
    }
  }
  if (deployment == nullptr || !ctx.model->serves(CallKind::kResponses) ||
      !provider_serves(deployment->provider->kind, CallKind::kResponses)) {
    co_return make_error(ErrorCode::kForbidden, "The deployment '" + name +
                                                    "' that made this response no longer serves "
                                                    "responses. Request id: " +
                                                    ctx.request_id + ".");
  }
  ctx.call.model = ctx.model->name;
  const std::vector<const Deployment*> candidates{deployment};
  if (auto decided = decide(config, candidates, ctx); !decided) co_return decided.error();
  std::string suffix = "/" + upstream_id;
  if (sp.cancel) suffix += "/cancel";
  if (!sp.query.empty()) {
    suffix += '?';
    suffix += sp.query;
  }
  co_return co_await forward_and_relay(worker, config, out, ctx, candidates,
                                       [](const Deployment&) { return std::string(); }, {},
                                       {r.stored_method, suffix});
}

net::awaitable<Result<bool>> run(Worker& worker, const Config& config, Request& req, Responder& out,
                                 RequestContext& ctx) {
  if (const Route* known = find_route(req.target())) out.set_error_shape(known->shape);
  auto r = route(req);
  if (!r) co_return r.error();
  ctx.route = r->name;

  // 1. authenticate
  const std::string_view presented = credential(req);
  Result<const Principal*> principal = nullptr;
  if (is_token(config, presented)) {
    principal = co_await authenticate_token(worker, config, presented, ctx);
    ctx.auth_methods |= policy::kAuthJwt;
  } else {
    principal = ctx.admitted != nullptr ? Result<const Principal*>(ctx.admitted)
                                        : config.keys.authenticate(presented);
    ctx.auth_methods |= policy::kAuthApiKey;
  }
  if (!principal) co_return principal.error();
  ctx.principal = *principal;
  if (auto device = identify_device(config, req, ctx); !device) co_return device.error();
  if (const auto posture = req.find("x-device-posture"); posture != req.end()) {
    if (auto read = co_await read_posture(worker, config, posture->value(), ctx); !read)
      co_return read.error();
  }

  if (r->is_models) {
    const std::string list = models_list(config, ctx);
    co_return co_await out.send(200, "application/json", list);
  }
  if (!r->stored_method.empty())
    co_return co_await stored_response(worker, config, req, out, ctx, *r);

  // 2. parse
  auto call = parse(worker, req, r->kind);
  if (!call) co_return call.error();
  ctx.call = *call;
  auto head = upstream_head(req, r->kind);
  if (!head) co_return head.error();
  if (auto bound = unbind(worker, req.body(), ctx); !bound) co_return bound.error();

  // 3. resolve
  auto candidates = resolve(config, ctx.call, ctx);
  if (!candidates) co_return candidates.error();
  if (auto pinned = pin(*candidates, ctx); !pinned) co_return pinned.error();

  // 4. inspect
  const std::string_view body = req.body();
  auto inspected = co_await inspect_request(worker, config, body, ctx);
  if (!inspected) co_return inspected.error();

  // 5.–6. decide per deployment, and transform for the permitted ones
  auto decided = decide(config, *candidates, ctx);
  if (!decided) co_return decided.error();
  std::vector<const Deployment*> permitted;
  for (const auto& [d, splices] : ctx.permitted) permitted.push_back(d);

  // 7. limit: the worst case reserved against every limit met, or 429
  if (!config.limits.empty()) {
    // Two statements, not one conditional expression holding a co_await: GCC 12 freed such an
    // expression's result before `co_return limited.error()` had copied it.
    if (!config.limits.uses_redis()) {
      auto limited = limit_here(worker, config, body, permitted, ctx, out);
      if (!limited) co_return limited.error();
    } else {
      auto limited = co_await limit_in_redis(worker, config, body, permitted, ctx, out);
      if (!limited) co_return limited.error();
    }
    // Messages and Responses streams report usage by themselves (message_delta,
    // response.completed); their APIs have no stream_options.include_usage.
    const bool chat_like =
        ctx.call.kind == CallKind::kChat || ctx.call.kind == CallKind::kCompletion;
    if (ctx.limit.held && ctx.call.stream && !ctx.call.stream_options && chat_like) {
      for (const uint16_t rule : ctx.limit.met.rule_of) {
        if (limits::counts_usage(config.limits.rules[rule].measure)) ctx.usage_added = true;
      }
    }
  }

  // 8.–9. forward and stream back
  co_return co_await forward_and_relay(worker, config, out, ctx, permitted,
                                       [&](const Deployment& d) { return body_for(body, ctx, d); },
                                       *head, {});
}

double seconds_since(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

// Stage 10: account — metrics and one JSON log line (never prompt text, never keys).
void account(Worker& worker, const Config& config, const RequestContext& ctx,
             const Responder& out) {
  const double seconds = seconds_since(ctx.start);
  const int status = out.started() ? out.status() : 499;
  worker.metrics().count_request(ctx.route, status, ctx.model ? ctx.model->name : "-", seconds);
  worker.metrics().sse_events += ctx.sse_events;
  for (const auto& [cls, n] : ctx.answer_counts) worker.metrics().count_findings(cls, "answer", n);
  if (!config.log.requests) return;
  std::string line = fmt::format(R"({{"ts_ms":{},"request_id":)",
                                 std::chrono::duration_cast<std::chrono::milliseconds>(
                                     std::chrono::system_clock::now().time_since_epoch())
                                     .count());
  append_json_string(line, ctx.request_id);
  line += R"(,"route":)";
  append_json_string(line, ctx.route);
  line += R"(,"principal":)";
  append_json_string(line, ctx.principal ? std::string_view(ctx.principal->id) : "-");
  line += R"(,"model":)";
  append_json_string(line, ctx.model ? std::string_view(ctx.model->name) : "-");
  line += R"(,"deployment":)";
  append_json_string(line, ctx.deployment ? std::string_view(ctx.deployment->name) : "-");
  line +=
      fmt::format(R"(,"status":{},"upstream_status":{},"attempts":{},"stream":{},"sse_events":{},)"
                  R"("prompt_tokens":{},"completion_tokens":{},"latency_ms":{:.3f},"error":)",
                  status, ctx.upstream_status, ctx.attempts, ctx.call.stream, ctx.sse_events,
                  ctx.usage.prompt_tokens, ctx.usage.completion_tokens, seconds * 1000);
  append_json_string(line, ctx.error_code.empty() ? std::string_view("-") : ctx.error_code);
  // Classes and counts only: never the values found.
  auto counts = [&line](std::string_view key, const auto& m) {
    line += ",\"";
    line += key;
    line += "\":{";
    bool first = true;
    for (const auto& [cls, n] : m) {
      if (!first) line += ',';
      first = false;
      append_json_string(line, cls);
      line += ':' + std::to_string(n);
    }
    line += '}';
  };
  counts("request_classes", ctx.request_scan.counts);
  line += R"(,"rules":[)";
  for (size_t i = 0; i < ctx.decision_rules.size(); ++i) {
    if (i) line += ',';
    append_json_string(line, ctx.decision_rules[i]);
  }
  line += ']';
  counts("answer_classes", ctx.answer_counts);
  if (!config.limits.empty()) {
    // The limits the request met (keys hold principal ids: they stay out of the log).
    line += R"(,"limits":[)";
    for (size_t i = 0; i < ctx.limit.met.rule_of.size(); ++i) {
      if (i) line += ',';
      append_json_string(line, config.limits.rules[ctx.limit.met.rule_of[i]].name);
    }
    line += R"(],"limit_refused":)";
    append_json_string(line, ctx.limit.refused.empty() ? "-" : ctx.limit.refused);
    // The store did not answer: refused (fail_closed) or let through unlimited (fail_open).
    if (ctx.limit.store_failed) line += R"(,"limit_store_failed":true)";
    if (!ctx.limit.skipped.empty()) {
      line += R"(,"limit_skipped":[)";
      for (size_t i = 0; i < ctx.limit.skipped.size(); ++i) {
        if (i) line += ',';
        append_json_string(line, ctx.limit.skipped[i]);
      }
      line += ']';
    }
  }
  line += "}\n";
  // One write(2) per line: lines from several workers never interleave (stdout is a pipe or file).
  [[maybe_unused]] const ssize_t n = ::write(STDOUT_FILENO, line.data(), line.size());
}

// Stage 10: the audit record — what was decided, on what attributes, with what outcome.
audit::Record audit_record(const Config& config, const RequestContext& ctx, int status) {
  audit::Record r;
  r.ts_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                std::chrono::system_clock::now().time_since_epoch())
                .count();
  r.request_id = ctx.request_id;
  r.instance = config.audit.instance;
  r.route = ctx.route;
  if (ctx.principal) {
    r.principal_id = ctx.principal->id;
    r.principal_kind = ctx.principal->kind;
    r.principal_team = ctx.principal->team;
    r.principal_clearance = ctx.principal->clearance;
    r.principal_labels = ctx.principal->labels;
    r.principal_issuer = ctx.principal->issuer;
    r.principal_groups = ctx.principal->groups;
  }
  if (ctx.auth_methods & policy::kAuthApiKey) r.auth_methods.emplace_back("api_key");
  if (ctx.auth_methods & policy::kAuthJwt) r.auth_methods.emplace_back("jwt");
  if (ctx.auth_methods & policy::kAuthMtls) r.auth_methods.emplace_back("mtls");
  r.device_present = ctx.device.present;
  if (ctx.device.present) {
    const policy::Device& d = ctx.device;
    r.device = {d.bound,
                d.id,
                d.managed,
                d.compliant,
                d.os,
                d.os_version,
                d.disk_encrypted,
                d.patch_age_days,
                d.posture_age_s,
                d.labels};
  }
  if (ctx.model) {
    r.model = ctx.model->name;
    r.model_developer = ctx.model->developer;
    r.model_origin = ctx.model->origin;
    r.model_license = ctx.model->license;
    r.model_open_weights = ctx.model->open_weights;
    for (const Deployment& d : ctx.model->deployments) {
      r.candidates.push_back({d.name, d.provider ? d.provider->name : "", d.operator_name,
                              d.jurisdiction, d.region, d.retention_days, d.trains_on_inputs,
                              d.hardware, d.grid_region, d.has_energy, d.energy.wh_per_mtok_in,
                              d.energy.wh_per_mtok_out});
    }
  }
  r.request_kind = std::string(call_kind_name(ctx.call.kind));
  r.stream = ctx.call.stream;
  r.estimated_tokens = ctx.call.estimated_input_tokens;
  r.has_tools = ctx.call.has_tools;
  r.request_store = ctx.call.store;
  r.request_server_tools = ctx.call.server_tools;
  r.request_mcp_hosts = ctx.call.mcp_hosts;
  r.hour = ctx.hour;
  r.weekday = ctx.weekday;
  const bool denied = ctx.error_code == "forbidden" || ctx.error_code == "sensitive_data_blocked";
  r.decision = denied ? "deny" : (!ctx.permitted.empty() ? "permit" : "error");
  r.deployment = ctx.deployment ? ctx.deployment->name : "";
  for (std::string_view rule : ctx.decision_rules) r.rules.emplace_back(rule);
  // The limits met (keys name principals, as the record does; the request log has rule names).
  if (const auto* ls = ctx.limit.settings) {
    const auto& h = ctx.limit;
    for (size_t i = 0; i < h.met.applied.size(); ++i) {
      const limits::Applied& a = h.met.applied[i];
      const limits::Rule& rule = ls->rules[h.met.rule_of[i]];
      if (h.store_failed && rule.fail_open) {
        // The store did not answer and the rule let the request through: nothing was reserved.
        r.limits.push_back({rule.name, std::string(a.key), 0, -1, 0, true});
        continue;
      }
      r.limits.push_back({rule.name, std::string(a.key), a.cost,
                          i < h.settled.size() ? h.settled[i] : -1,
                          i < h.remaining.size() ? h.remaining[i] : 0});
    }
    r.limit_refused = h.refused;
  }
  for (const auto& [c, n] : ctx.request_scan.counts) r.request_classes[c] = n;
  for (const auto& [c, n] : ctx.answer_counts) r.answer_classes[c] = n;
  for (const auto& [d, splices] : ctx.permitted) {
    if (d == ctx.deployment && !splices.empty())
      r.transforms.push_back(std::to_string(splices.size()) + " strings");
  }
  r.prompt_tokens = ctx.usage.prompt_tokens;
  r.completion_tokens = ctx.usage.completion_tokens;
  if (ctx.deployment) {
    r.cost = (std::max<int64_t>(0, ctx.usage.prompt_tokens) * ctx.deployment->price.input_per_mtok +
              std::max<int64_t>(0, ctx.usage.completion_tokens) *
                  ctx.deployment->price.output_per_mtok) /
             1e6;
  }
  r.status = status;
  r.upstream_status = ctx.upstream_status;
  r.latency_ms = std::chrono::duration<double, std::milli>(Clock::now() - ctx.start).count();
  r.error = std::string(ctx.error_code);
  r.policy_version = config.version;
  return r;
}

// How long a strict response waits for its record's commit before it answers 503 instead.
constexpr std::chrono::seconds kStrictCommitWait{5};

// Submits the record (into its reserved place) and waits (on this worker) until the audit
// thread has committed it. After kStrictCommitWait the request abandons the record — it is then
// written with status 503, what the client gets — unless the writer is committing it at that
// moment: then the outcome of that attempt decides (polled; only ever on a failing store).
net::awaitable<bool> commit_record(audit::Writer& writer, audit::Record record) {
  auto ex = co_await net::this_coro::executor;
  auto timer = std::make_shared<net::steady_timer>(ex, kStrictCommitWait);
  auto committed = std::make_shared<bool>(false);
  auto ticket = std::make_shared<audit::Writer::Ticket>();
  writer.submit(
      std::move(record),
      [timer, committed, ex] {
        net::post(ex, [timer, committed] {
          *committed = true;
          timer->cancel();
        });
      },
      true, ticket);
  co_await timer->async_wait(net::as_tuple(net::use_awaitable));
  while (!*committed) {
    if (ticket->abandon()) co_return false;
    if (ticket->state.load() == audit::Writer::Ticket::kCommitted) co_return true;
    timer->expires_after(std::chrono::milliseconds(20));
    co_await timer->async_wait(net::as_tuple(net::use_awaitable));
  }
  co_return true;
}

// The reserved place of a request's record. Whatever ends the request — its answer, a client
// that resets mid-stream, or the end of the shutdown grace destroying the coroutine — the record
// is submitted exactly once, with the status the client got (499: no complete answer).
struct PendingRecord {
  audit::Writer* writer = nullptr;  // set while the place is held
  ConfigPtr config;
  const RequestContext* ctx = nullptr;
  const Responder* out = nullptr;
  void submit(int status) {
    if (writer == nullptr) return;
    writer->submit(audit_record(*config, *ctx, status), nullptr, true);
    writer = nullptr;
  }
  int status() const { return out->started() ? out->status() : 499; }
  // Refused before a principal existed: the place is given back and the refusal counted at the
  // door (audit::Writer::refused) instead.
  void count_at_door(int status) {
    if (writer == nullptr) return;
    writer->unreserve();
    writer->refused(ctx->client->address, ctx->error_code, status);
    writer = nullptr;
  }
  ~PendingRecord() { submit(status()); }
};

// A request refused before anyone was authenticated (no or a bad credential, an unknown route
// or method) decided nothing for anyone, and an unauthenticated flood must not fill the store:
// it is counted at the door, one record per address, reason and second, instead of one each.
bool refused_at_door(const RequestContext& ctx, int status) {
  return ctx.principal == nullptr && status >= 400 && status != 499 && !ctx.error_code.empty();
}

}  // namespace

net::awaitable<void> handle(Worker& worker, const ConfigPtr& config, Request& req, Responder& out,
                            const ClientInfo& client, const Principal* admitted) {
  RequestContext ctx;
  ctx.client = &client;
  ctx.admitted = admitted;
  ctx.request_id = request_id_for(worker, req);
  out.set_request_id(ctx.request_id);
  {
    // The clock is read here, in the pipeline; decide() only sees the numbers.
    const std::time_t now = std::time(nullptr);
    std::tm tm{};
    gmtime_r(&now, &tm);
    ctx.hour = tm.tm_hour;
    ctx.weekday = tm.tm_wday == 0 ? 7 : tm.tm_wday;
  }
  ++worker.metrics().in_flight;
  audit::Writer* writer = config->audit.enabled ? worker.audit() : nullptr;
  Result<bool> outcome = true;
  PendingRecord pending{nullptr, config, &ctx, &out};
  // The record's place is taken before anything is answered: a full queue refuses the request
  // now (503) rather than drop its record after the client got its answer.
  if (writer != nullptr && !(writer->accepting() && writer->reserve())) {
    // Fail closed: what cannot be recorded is not done.
    outcome =
        make_error(ErrorCode::kAuditUnavailable, "The audit store is unavailable; try later.");
  } else {
    pending.writer = writer;
    if (writer != nullptr && writer->durability() == audit::Durability::kStrict) {
      // Strict: the response completes only once its record is committed.
      out.set_completion_gate([&](int status) -> net::awaitable<bool> {
        if (refused_at_door(ctx, status)) {
          pending.count_at_door(status);
          co_return true;
        }
        audit::Record record = audit_record(*config, ctx, status);
        pending.writer = nullptr;  // the gate submits it
        co_return co_await commit_record(*writer, std::move(record));
      });
    }
    outcome = co_await run(worker, *config, req, out, ctx);
  }
  if (!outcome) {
    ctx.error_code = error_info(outcome.error().code).code;
    if (!out.started()) co_await out.send_error(outcome.error());
  }
  // Batched, or strict when the gate never ran (the client went away mid-answer).
  if (refused_at_door(ctx, pending.status())) pending.count_at_door(pending.status());
  pending.submit(pending.status());
  --worker.metrics().in_flight;
  account(worker, *config, ctx, out);
}

Admission admissible(Worker& worker, const Config& config, const Request& head) {
  if (!route(head)) return {};
  const std::string_view presented = credential(head);
  if (!is_token(config, presented)) {
    Result<const Principal*> found = config.keys.authenticate(presented);
    return found ? Admission{true, *found} : Admission{};
  }
  // A token already verified by this worker passes; another is verified in handle() (its
  // issuer's keys may have to be fetched first), and here only its shape and issuer are checked.
  if (worker.token_cache().find(sha256(presented), unix_seconds()) != nullptr) return {true};
  const auto parsed = identity::parse_jws(presented);
  return {parsed && config.jwt.find(parsed->iss) != nullptr};
}

void count_rejected(Worker& worker, int status) {
  worker.metrics().count_request("-", status, "-", 0);
}

}  // namespace warden::pipeline
