// Values a deployment made that the client sends back: Responses ids (`previous_response_id`,
// GET/DELETE /v1/responses/{id}) and signed or encrypted model output (Anthropic `thinking`
// signatures and `redacted_thinking` data, Responses `encrypted_content`).
//
// Warden keeps no table of which deployment made what: it hands the client the value wrapped
// with the deployment's name and an HMAC-SHA-256 (truncated to 128 bits) under a key of its own
// (`binding.key_file`), and unwraps what comes back. So the binding survives restarts and holds
// across replicas that share the key, and a client can neither forge a binding nor move a value
// to another deployment: contract §3 (signed output goes back only to the deployment that made
// it) and §1 (the upstream gets its own value back, untouched).
//
//   response id   resp_w1.<deployment, base64url>.<mac>.<upstream id>
//                 mac over ("r", deployment, principal, upstream id): an id works only for the
//                 caller it was given to (the provider's key is shared by every caller)
//   signed value  wsig1.<deployment, base64url>.<mac>.<upstream value>
//                 mac over ("s", deployment, value)
// Untrusted input: client request bodies and ids (unbind), upstream answers (bind_answer).
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "inspect/body.h"

namespace warden::inspect {

class Binder {
 public:
  static constexpr size_t kKeyBytes = 32;
  explicit Binder(std::string key);
  ~Binder();
  Binder(const Binder&) = delete;
  Binder& operator=(const Binder&) = delete;

  enum class Kind : char { kResponse = 'r', kSigned = 's' };
  // `scope`: the principal for response ids, empty for signed values.
  std::string bind(Kind kind, std::string_view deployment, std::string_view scope,
                   std::string_view value) const;

  enum class Check : uint8_t {
    kNotBound,  // not a wrapped value (no prefix)
    kValid,     // `deployment` and `value` are set
    kForged,    // the prefix, but a malformed wrapping or a MAC that does not hold
  };
  Check unbind(Kind kind, std::string_view scope, std::string_view wrapped, std::string& deployment,
               std::string& value) const;

 private:
  std::string mac(Kind kind, std::string_view deployment, std::string_view scope,
                  std::string_view value) const;
  // HMAC's inner and outer hash states after the padded key, hashed once: a MAC then costs two
  // short SHA-256 runs (OpenSSL's one-shot HMAC() set itself up anew, ~24k instructions a call).
  struct Pads;
  std::unique_ptr<Pads> pads_;
};

// Reads the binding key from `path` (at least kKeyBytes bytes of a regular file), or creates it
// there (32 random bytes, mode 0600) when it does not exist. Empty with `error` set on failure.
std::string load_binding_key(const std::string& path, std::string& error);

enum class BindApi : uint8_t { kMessages, kResponses };

// Wraps the ids and signed values of an upstream answer (a whole body, or one stream event's
// data) for `deployment`: Responses `id` and `previous_response_id` of the response object (at
// the top or under `response`) and `encrypted_content` of output items; Messages `signature` and
// `data` of content blocks (also in content_block_start and signature_delta). kChanged: `out`
// holds the answer to send instead. An answer that names none of these keys is not walked
// (`event`: one stream event's data, where a response object is under "response").
enum class Bound : uint8_t { kUnchanged, kChanged, kInvalid };
Bound bind_answer(const Binder& binder, BindApi api, std::string_view deployment,
                  std::string_view principal, std::string_view json, std::string& out,
                  bool event = false);

// What a request sends back: the deployment its bound values came from, and the splices that
// give the upstream its own values.
struct RequestBinding {
  enum Status : uint8_t {
    kOk,
    kForgedId,      // previous_response_id is not an id Warden gave this caller
    kForgedSigned,  // a wrapped signed value whose MAC does not hold
    kMixed,         // values of two deployments
  } status = kOk;
  std::string deployment;  // empty: nothing bound
  std::vector<Splice> splices;
  // The JSON string tokens of bound signed values: they go back untouched to the deployment that
  // made them, so they are neither uninspectable.signed nor scanned for findings.
  std::vector<uint32_t> signed_offsets;
};

RequestBinding unbind_request(const Binder& binder, BindApi api, std::string_view principal,
                              std::string_view body);

// Removes what the scan of `body` counted for the bound signed values (their
// uninspectable.signed and any finding inside them).
void exempt_bound(BodyScan& scan, const RequestBinding& binding);

}  // namespace warden::inspect
