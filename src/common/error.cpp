#include "common/json_writer.h"
#include "common/result.h"

namespace warden {

ErrorInfo error_info(ErrorCode code) {
  switch (code) {
    case ErrorCode::kMalformedJson:
      return {400, "invalid_request_error", "malformed_json", "invalid_request_error"};
    case ErrorCode::kInvalidRequest:
      return {400, "invalid_request_error", "invalid_request", "invalid_request_error"};
    case ErrorCode::kBadHttp:
      return {400, "invalid_request_error", "bad_http", "invalid_request_error"};
    case ErrorCode::kUnauthenticated:
      return {401, "invalid_request_error", "invalid_api_key", "authentication_error"};
    case ErrorCode::kForbidden:
      return {403, "permission_error", "forbidden", "permission_error"};
    case ErrorCode::kSensitiveData:
      return {403, "permission_error", "sensitive_data_blocked", "permission_error"};
    case ErrorCode::kUninspectable:
      return {400, "invalid_request_error", "uninspectable_request", "invalid_request_error"};
    case ErrorCode::kInspectionWork:
      return {403, "permission_error", "uninspectable", "permission_error"};
    case ErrorCode::kNotFound:
      return {404, "invalid_request_error", "unknown_route", "not_found_error"};
    case ErrorCode::kModelNotFound:
      return {404, "invalid_request_error", "model_not_found", "not_found_error"};
    case ErrorCode::kMethodNotAllowed:
      return {405, "invalid_request_error", "method_not_allowed", "invalid_request_error"};
    case ErrorCode::kRequestTimeout:
      return {408, "invalid_request_error", "request_timeout", "invalid_request_error"};
    case ErrorCode::kPayloadTooLarge:
      return {413, "invalid_request_error", "payload_too_large", "request_too_large"};
    case ErrorCode::kUnsupportedMedia:
      return {415, "invalid_request_error", "unsupported_media_type", "invalid_request_error"};
    case ErrorCode::kHeadersTooLarge:
      return {431, "invalid_request_error", "headers_too_large", "invalid_request_error"};
    case ErrorCode::kRateLimited:
      return {429, "rate_limit_error", "upstream_rate_limited", "rate_limit_error"};
    case ErrorCode::kLimitExceeded:
      return {429, "rate_limit_error", "rate_limit_exceeded", "rate_limit_error"};
    case ErrorCode::kUpstreamUnavailable:
      return {502, "upstream_error", "upstream_unavailable", "api_error"};
    case ErrorCode::kUpstreamTimeout:
      return {504, "upstream_error", "upstream_timeout", "timeout_error"};
    case ErrorCode::kShuttingDown:
      return {503, "server_error", "shutting_down", "api_error"};
    case ErrorCode::kAuditUnavailable:
      return {503, "server_error", "audit_unavailable", "api_error"};
    case ErrorCode::kLimitStoreUnavailable:
      return {503, "server_error", "limit_store_unavailable", "api_error"};
    case ErrorCode::kClientClosed:
      return {499, "client_error", "client_closed", "invalid_request_error"};
    case ErrorCode::kInternal:
      return {500, "server_error", "internal_error", "api_error"};
  }
  return {500, "server_error", "internal_error", "api_error"};
}

std::string error_json(const GatewayError& error, std::string_view request_id) {
  const ErrorInfo info = error_info(error.code);
  std::string out;
  out.reserve(128 + error.message.size());
  out += R"({"error":{"message":)";
  append_json_string(out, error.message);
  out += R"(,"type":)";
  append_json_string(out, info.type);
  out += R"(,"param":null,"code":)";
  append_json_string(out, info.code);
  if (!request_id.empty()) {
    out += R"(,"request_id":)";
    append_json_string(out, request_id);
  }
  out += "}}";
  return out;
}

std::string error_json(ErrorShape shape, const GatewayError& error, std::string_view request_id) {
  if (shape == ErrorShape::kOpenAI) return error_json(error, request_id);
  std::string out;
  out.reserve(128 + error.message.size());
  out += R"({"type":"error","error":{"type":)";
  append_json_string(out, error_info(error.code).anthropic_type);
  out += R"(,"message":)";
  append_json_string(out, error.message);
  out += '}';
  if (!request_id.empty()) {
    out += R"(,"request_id":)";
    append_json_string(out, request_id);
  }
  out += '}';
  return out;
}

std::string error_event(ErrorShape shape, const GatewayError& error, std::string_view request_id) {
  return (shape == ErrorShape::kAnthropic ? "event: error\ndata: " : "data: ") +
         error_json(shape, error, request_id) + "\n\n";
}

void append_json_string(std::string& out, std::string_view s) {
  static constexpr char kHex[] = "0123456789abcdef";
  out.push_back('"');
  // Runs of characters that need no escape are appended whole.
  size_t run = 0;
  for (size_t i = 0; i < s.size(); ++i) {
    const auto c = static_cast<unsigned char>(s[i]);
    if (c >= 0x20 && c != '"' && c != '\\') continue;
    out.append(s.data() + run, i - run);
    run = i + 1;
    switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\r':
        out += "\\r";
        break;
      case '\t':
        out += "\\t";
        break;
      default:
        out += "\\u00";
        out.push_back(kHex[c >> 4]);
        out.push_back(kHex[c & 0xf]);
    }
  }
  out.append(s.data() + run, s.size() - run);
  out.push_back('"');
}

}  // namespace warden
