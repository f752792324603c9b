// Result<T>: the data plane's error channel (an expected-like type; std::expected is C++23).
// Every GatewayError code maps to exactly one HTTP status, one OpenAI error type and one audit
// reason (see error.cpp). The data plane never throws; the control plane may.
#pragma once

#include <string>
#include <string_view>
#include <utility>
#include <variant>

namespace warden {

enum class ErrorCode {
  kMalformedJson,          // 400: body is not JSON / not UTF-8
  kInvalidRequest,         // 400: JSON, but a field is missing or has the wrong type
  kBadHttp,                // 400: HTTP framing the server refuses (e.g. CL + TE)
  kUnauthenticated,        // 401
  kForbidden,              // 403
  kSensitiveData,          // 403: the request carries data classes that may not leave
  kUninspectable,          // 400: the request cannot be inspected (so it is not forwarded)
  kInspectionWork,         // 403: inspecting it would take more work than a request may cause
  kNotFound,               // 404: unknown route
  kModelNotFound,          // 404: unknown model
  kMethodNotAllowed,       // 405
  kRequestTimeout,         // 408: client too slow
  kPayloadTooLarge,        // 413
  kUnsupportedMedia,       // 415
  kHeadersTooLarge,        // 431
  kRateLimited,            // 429: upstream said 429 after every retry
  kLimitExceeded,          // 429: a configured rate limit or budget does not fit the request
  kUpstreamUnavailable,    // 502: refused, reset, bad answer
  kUpstreamTimeout,        // 504
  kShuttingDown,           // 503
  kAuditUnavailable,       // 503: the audit store cannot take the record (fail closed)
  kLimitStoreUnavailable,  // 503: a limit's store cannot answer and the limit fails closed
  kClientClosed,           // 499 (logs only): the client went away before the answer
  kInternal,               // 500
};

struct GatewayError {
  ErrorCode code;
  std::string message;  // safe for clients: never prompt text, never credentials
};

struct ErrorInfo {
  int status;
  std::string_view type;            // OpenAI error "type"
  std::string_view code;            // OpenAI error "code" and the audit reason
  std::string_view anthropic_type;  // Anthropic error "type" (on /v1/messages)
};

ErrorInfo error_info(ErrorCode code);

// OpenAI's error shape: {"error":{"message":..,"type":..,"param":null,"code":..}}
std::string error_json(const GatewayError& error, std::string_view request_id);

// The shape errors are sent in: each API's own, so its clients read them as they read the
// provider's (contract §2).
enum class ErrorShape : uint8_t { kOpenAI, kAnthropic };

// Anthropic's: {"type":"error","error":{"type":..,"message":..},"request_id":..}
std::string error_json(ErrorShape shape, const GatewayError& error, std::string_view request_id);

// The SSE event that ends a stream that failed after it started (Anthropic's is named `error`).
std::string error_event(ErrorShape shape, const GatewayError& error, std::string_view request_id);

template <typename T>
class [[nodiscard]] Result {
 public:
  Result(T value) : v_(std::move(value)) {}             // NOLINT: implicit by design
  Result(GatewayError error) : v_(std::move(error)) {}  // NOLINT: implicit by design
  bool ok() const { return v_.index() == 0; }
  explicit operator bool() const { return ok(); }
  T& value() { return std::get<0>(v_); }
  const T& value() const { return std::get<0>(v_); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }
  T& operator*() { return value(); }
  const GatewayError& error() const { return std::get<1>(v_); }

 private:
  std::variant<T, GatewayError> v_;
};

inline GatewayError make_error(ErrorCode code, std::string message) {
  return GatewayError{code, std::move(message)};
}

}  // namespace warden
