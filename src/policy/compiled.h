// The compiled form of a policy (internal to policy/ and its loader).
#pragma once

#include <string>
#include <unordered_map>
#include <vector>

#include "policy/policy.h"

namespace warden::policy {

enum class Attr : uint8_t {
  kPrincipalId,
  kPrincipalKind,
  kPrincipalTeam,
  kPrincipalClearance,
  kPrincipalLabel,
  kDevicePresent,
  kDeviceManaged,
  kDeviceCompliant,
  kDeviceOs,
  kDeviceLabel,
  kModelName,
  kModelDeveloper,
  kModelOrigin,
  kModelOpenWeights,
  kModelLicense,
  kDeploymentName,
  kDeploymentProvider,
  kDeploymentOperator,
  kDeploymentJurisdiction,
  kDeploymentRegion,
  kDeploymentRetentionDays,
  kDeploymentTrainsOnInputs,
  kDataClasses,
  kRequestKind,
  kRequestStream,
  kRequestEstimatedTokens,
  kRequestHasTools,
  kTimeHour,
  kTimeWeekday,
  kPrincipalIssuer,
  kPrincipalGroups,
  kAuthMethods,
  kDeviceBound,
  kDeviceId,
  kDeviceOsVersion,
  kDeviceDiskEncrypted,
  kDevicePatchAgeDays,
  kDevicePostureAgeS,
  kDeploymentHardware,
  kDeploymentGridRegion,
  kDeploymentEnergyIn,
  kDeploymentEnergyOut,
  kRequestStore,
  kRequestServerTools,
  kRequestMcpHosts,
  kCount,  // not an attribute: how many there are
};

enum class AttrType : uint8_t { kString, kBool, kNumber, kSet };

enum class Op : uint8_t { kIn, kNotIn, kAny, kAll, kNone, kLt, kGt, kExists };

struct Condition {
  Attr attr = Attr::kPrincipalId;
  std::string label;  // for *.labels.<key>
  Op op = Op::kIn;
  std::vector<std::string> values;  // sorted (in / not_in / any / all / none)
  double number = 0;                // lt / gt
  int line = 0;
  // Compiled forms (build_index): interned ids of `values` (sorted), or for data.classes one bit
  // per distinct class value of the policy.
  std::vector<uint32_t> ids{};
  uint64_t class_bits = 0;
};

struct Rule {
  std::string id;
  Effect effect = Effect::kPermit;
  std::vector<Condition> when;
  inspect::Action action = inspect::Action::kMask;  // transform
  bool end_stream = false;                          // output
  std::vector<std::string> classes;                 // transform / output
  int line = 0;
  // Compiled (build_index): conditions that depend on the deployment (or on the classes, whose
  // residual differs per deployment), and those that do not — minus the one the rule is indexed
  // under, which holds whenever the rule is looked at.
  std::vector<uint16_t> dependent{};
  std::vector<uint16_t> independent{};
};

// Lets the maps below be searched with a string_view, without building a std::string.
struct StringHash {
  using is_transparent = void;
  size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
};
template <typename V>
using StringMap = std::unordered_map<std::string, V, StringHash, std::equal_to<>>;

class Policy {
 public:
  std::vector<Rule> rules;
  // Index: permit/forbid/transform rules by the deployment, model or team they name (the most
  // selective); the rest apply to every request. decide() merges the global bucket with the
  // request's deployment, model and team buckets, in rule order.
  struct Index {
    std::vector<uint32_t> global;
    StringMap<std::vector<uint32_t>> by_model;
    StringMap<std::vector<uint32_t>> by_deployment;
    StringMap<std::vector<uint32_t>> by_team;
  };
  Index decisions;   // permit and forbid rules
  Index transforms;  // transform rules
  // Every string a condition compares with, interned: a condition then compares integers.
  StringMap<uint32_t> interned;
  // The distinct data.classes values (bit i = class_values[i]); at most 64, else strings.
  std::vector<std::string> class_values;
  bool class_bits_ok = true;
  void build_index();
};

AttrType attr_type(Attr a);
bool parse_attr(std::string_view name, Attr& attr, std::string& label);
bool parse_op(std::string_view name, Op& op);
bool matches(const Condition& c, const Attributes& a, const std::vector<std::string_view>& classes);

}  // namespace warden::policy
