// Policy: which data may reach which model deployment. A pure function of attributes — no I/O,
// no clock (time comes in as an attribute) — compiled from the configuration's rules.
//
// Semantics (in the spirit of Cedar): default deny; a deployment is permitted when some permit
// rule matches and no forbid rule matches. Transform rules say which classes are masked or
// pseudonymised for the deployments they match; permit/forbid then see the residual classes
// (found − transformed). The first permitted deployment in the model's preference order is used.
// Output rules say what to do when the answer carries a class (mask, or end the stream).
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "catalog/catalog.h"
#include "identity/identity.h"
#include "inspect/body.h"

namespace warden::policy {

struct Device {
  bool present = false;
  bool bound = false;  // the posture claims are bound to the caller's certificate or token
  std::string id;
  bool managed = false;
  bool compliant = false;
  std::string os;
  std::string os_version;
  bool disk_encrypted = false;
  int64_t patch_age_days = -1;  // -1: not known
  int64_t posture_age_s = -1;   // -1: no posture token
  std::map<std::string, std::string> labels;
};

// How the caller proved who it is (auth.methods, a set).
constexpr uint8_t kAuthApiKey = 1;
constexpr uint8_t kAuthJwt = 2;
constexpr uint8_t kAuthMtls = 4;

struct RequestAttrs {
  CallKind kind = CallKind::kChat;
  bool stream = false;
  uint32_t estimated_tokens = 0;
  bool has_tools = false;
  bool store = false;
  bool store_known = true;  // false: a record written before request.store existed (absent)
  std::span<const std::string> server_tools;  // request.server_tools (a set)
  std::span<const std::string> mcp_hosts;     // request.mcp_hosts (a set)
};

// Everything decide() may read. Views must outlive the call.
struct Attributes {
  const Principal* principal = nullptr;
  const Device* device = nullptr;
  uint8_t auth_methods = 0;  // kAuth* bits
  const Model* model = nullptr;
  const Deployment* deployment = nullptr;
  RequestAttrs request;
  std::vector<std::string_view> classes;  // data classes found in the request
  int hour = 0;                           // time.hour (0–23), passed in
  int weekday = 0;                        // time.weekday (1 = Monday … 7)
};

enum class Effect : uint8_t { kPermit, kForbid, kTransform, kOutput };

struct Transform {
  std::string_view rule;
  std::string_view cls_prefix;
  inspect::Action action;  // mask or pseudonymise
};

struct Decision {
  bool permit = false;
  std::vector<std::string_view> rules;     // ids of the rules that made the decision
  std::vector<Transform> transforms;       // to apply for this deployment
  std::vector<std::string_view> residual;  // classes that would cross
};

class Policy;

// Why a decision denied, for people: "forbidden by rules a, b, c and 2 more" or "no rule permits
// it" (built on demand: decisions are many, explanations few).
std::string reason(const Decision& decision);
// The same, naming the device conditions behind a denial: "forbidden by rule x (the device meets
// device.managed in [false])", or the device conditions of permit rules that failed when nothing
// else kept them from permitting. `attrs` as decided, with the deployment set.
std::string reason(const Policy& policy, const Decision& decision, const Attributes& attrs);

struct OutputRule {
  std::string_view rule;
  std::string_view cls_prefix;
  bool end_stream;  // else mask
};

class Policy;
using PolicyPtr = std::shared_ptr<const Policy>;

// decide() for one deployment (attrs.deployment set).
Decision decide(const Policy& policy, const Attributes& attrs);

// decide() for each of `deployments` (attrs.deployment is not read): what does not depend on the
// deployment is evaluated once for all of them. Same results as calling decide() for each.
std::vector<Decision> decide_all(const Policy& policy, const Attributes& attrs,
                                 std::span<const Deployment* const> deployments);

// What to do with classes found in answers, for a chosen deployment.
std::vector<OutputRule> output_rules(const Policy& policy, const Attributes& attrs);

}  // namespace warden::policy
