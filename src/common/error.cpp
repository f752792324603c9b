#include "common/json_writer.h"
#include "common/result.h"

namespace warden {

ErrorInfo error_info(ErrorCode code) {
  switch (code) {
    case ErrorCode::kMalformedJson:
      return {400, "invalid_request_error", "malformed_json"};
    case ErrorCode::kInvalidRequest:
      return {400, "invalid_request_error", "invalid_request"};
    case ErrorCode::kBadHttp:
      return {400, "invalid_request_error", "bad_http"};
    case ErrorCode::kUnauthenticated:
      return {401, "invalid_request_error", "invalid_api_key"};
    case ErrorCode::kForbidden:
      return {403, "permission_error", "forbidden"};
    case ErrorCode::kSensitiveData:
      return {403, "permission_error", "sensitive_data_blocked"};
    case ErrorCode::kUninspectable:
      return {400, "invalid_request_error", "uninspectable_request"};
    case ErrorCode::kInspectionWork:
      return {403, "permission_error", "uninspectable"};
    case ErrorCode::kNotFound:
      return {404, "invalid_request_error", "unknown_route"};
    case ErrorCode::kModelNotFound:
      return {404, "invalid_request_error", "model_not_found"};
    case ErrorCode::kMethodNotAllowed:
      return {405, "invalid_request_error", "method_not_allowed"};
    case ErrorCode::kRequestTimeout:
      return {408, "invalid_request_error", "request_timeout"};
    case ErrorCode::kPayloadTooLarge:
      return {413, "invalid_request_error", "payload_too_large"};
    case ErrorCode::kUnsupportedMedia:
      return {415, "invalid_request_error", "unsupported_media_type"};
    case ErrorCode::kHeadersTooLarge:
      return {431, "invalid_request_error", "headers_too_large"};
    case ErrorCode::kRateLimited:
      return {429, "rate_limit_error", "upstream_rate_limited"};
    case ErrorCode::kLimitExceeded:
      return {429, "rate_limit_error", "rate_limit_exceeded"};
    case ErrorCode::kUpstreamUnavailable:
      return {502, "upstream_error", "upstream_unavailable"};
    case ErrorCode::kUpstreamTimeout:
      return {504, "upstream_error", "upstream_timeout"};
    case ErrorCode::kShuttingDown:
      return {503, "server_error", "shutting_down"};
    case ErrorCode::kAuditUnavailable:
      return {503, "server_error", "audit_unavailable"};
    case ErrorCode::kLimitStoreUnavailable:
      return {503, "server_error", "limit_store_unavailable"};
    case ErrorCode::kClientClosed:
      return {499, "client_error", "client_closed"};
    case ErrorCode::kInternal:
      return {500, "server_error", "internal_error"};
  }
  return {500, "server_error", "internal_error"};
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
