#include <algorithm>
#include <array>
#include <charconv>

#include "policy/compiled.h"

namespace warden::policy {

AttrType attr_type(Attr a) {
  switch (a) {
    case Attr::kDevicePresent:
    case Attr::kDeviceManaged:
    case Attr::kDeviceCompliant:
    case Attr::kDeviceBound:
    case Attr::kDeviceDiskEncrypted:
    case Attr::kModelOpenWeights:
    case Attr::kDeploymentTrainsOnInputs:
    case Attr::kRequestStream:
    case Attr::kRequestHasTools:
    case Attr::kRequestStore:
      return AttrType::kBool;
    case Attr::kDeploymentRetentionDays:
    case Attr::kRequestEstimatedTokens:
    case Attr::kTimeHour:
    case Attr::kTimeWeekday:
    case Attr::kDevicePatchAgeDays:
    case Attr::kDevicePostureAgeS:
    case Attr::kDeploymentEnergyIn:
    case Attr::kDeploymentEnergyOut:
      return AttrType::kNumber;
    case Attr::kDataClasses:
    case Attr::kPrincipalGroups:
    case Attr::kAuthMethods:
    case Attr::kRequestServerTools:
    case Attr::kRequestMcpHosts:
      return AttrType::kSet;
    default:
      return AttrType::kString;
  }
}

namespace {

constexpr std::pair<std::string_view, Attr> kNames[] = {
    {"principal.id", Attr::kPrincipalId},
    {"principal.kind", Attr::kPrincipalKind},
    {"principal.team", Attr::kPrincipalTeam},
    {"principal.clearance", Attr::kPrincipalClearance},
    {"principal.issuer", Attr::kPrincipalIssuer},
    {"principal.groups", Attr::kPrincipalGroups},
    {"auth.methods", Attr::kAuthMethods},
    {"device.present", Attr::kDevicePresent},
    {"device.bound", Attr::kDeviceBound},
    {"device.id", Attr::kDeviceId},
    {"device.managed", Attr::kDeviceManaged},
    {"device.compliant", Attr::kDeviceCompliant},
    {"device.os", Attr::kDeviceOs},
    {"device.os_version", Attr::kDeviceOsVersion},
    {"device.disk_encrypted", Attr::kDeviceDiskEncrypted},
    {"device.patch_age_days", Attr::kDevicePatchAgeDays},
    {"device.posture_age_s", Attr::kDevicePostureAgeS},
    {"model.name", Attr::kModelName},
    {"model.developer", Attr::kModelDeveloper},
    {"model.origin", Attr::kModelOrigin},
    {"model.open_weights", Attr::kModelOpenWeights},
    {"model.license", Attr::kModelLicense},
    {"deployment.name", Attr::kDeploymentName},
    {"deployment.provider", Attr::kDeploymentProvider},
    {"deployment.operator", Attr::kDeploymentOperator},
    {"deployment.jurisdiction", Attr::kDeploymentJurisdiction},
    {"deployment.region", Attr::kDeploymentRegion},
    {"deployment.retention_days", Attr::kDeploymentRetentionDays},
    {"deployment.trains_on_inputs", Attr::kDeploymentTrainsOnInputs},
    {"deployment.hardware", Attr::kDeploymentHardware},
    {"deployment.grid_region", Attr::kDeploymentGridRegion},
    {"deployment.energy.wh_per_mtok_in", Attr::kDeploymentEnergyIn},
    {"deployment.energy.wh_per_mtok_out", Attr::kDeploymentEnergyOut},
    {"data.classes", Attr::kDataClasses},
    {"request.kind", Attr::kRequestKind},
    {"request.stream", Attr::kRequestStream},
    {"request.estimated_tokens", Attr::kRequestEstimatedTokens},
    {"request.has_tools", Attr::kRequestHasTools},
    {"request.store", Attr::kRequestStore},
    {"request.server_tools", Attr::kRequestServerTools},
    {"request.mcp_hosts", Attr::kRequestMcpHosts},
    {"time.hour", Attr::kTimeHour},
    {"time.weekday", Attr::kTimeWeekday}};

}  // namespace

bool parse_attr(std::string_view n, Attr& a, std::string& label) {
  for (const auto& [name, attr] : kNames) {
    if (n == name) {
      a = attr;
      return true;
    }
  }
  for (const auto& [prefix, attr] :
       {std::pair{std::string_view("principal.labels."), Attr::kPrincipalLabel},
        std::pair{std::string_view("device.labels."), Attr::kDeviceLabel}}) {
    if (n.size() > prefix.size() && n.substr(0, prefix.size()) == prefix) {
      a = attr;
      label = std::string(n.substr(prefix.size()));
      return true;
    }
  }
  return false;
}

bool parse_op(std::string_view n, Op& op) {
  static const std::pair<std::string_view, Op> kOps[] = {
      {"in", Op::kIn},     {"not_in", Op::kNotIn}, {"any", Op::kAny}, {"all", Op::kAll},
      {"none", Op::kNone}, {"lt", Op::kLt},        {"gt", Op::kGt},   {"exists", Op::kExists}};
  for (const auto& [name, o] : kOps) {
    if (n == name) {
      op = o;
      return true;
    }
  }
  return false;
}

namespace {

std::string_view bool_str(bool b) {
  return b ? "true" : "false";
}

// A configured figure as `in`/`not_in` compare it: the shortest text that reads back the same.
std::string fmt_number(double v) {
  char buf[32];
  const auto r = std::to_chars(buf, buf + sizeof buf, v);
  return std::string(buf, r.ptr);
}

// A label of an object that may be missing (absent when the object is).
template <typename T>
std::string_view label_of(const T* o, const std::string& k, bool& present) {
  present = false;
  if (o == nullptr) return {};
  auto it = o->labels.find(k);
  present = it != o->labels.end();
  return present ? std::string_view(it->second) : std::string_view();
}

// A string member of an object that may be missing: absent when the object is, or (when
// `empty_is_absent`) when the string is empty.
template <typename T>
std::string_view member(const T* o, const std::string T::*field, bool& present,
                        bool empty_is_absent = false) {
  present = o != nullptr && !(empty_is_absent && (o->*field).empty());
  return o != nullptr ? std::string_view(o->*field) : std::string_view();
}

// The attribute as a string (scalars) and whether it is present at all.
std::string_view scalar(const Condition& c, const Attributes& a, bool& present,
                        std::string& scratch) {
  present = true;
  const Principal* p = a.principal;
  const Device* d = a.device;
  const Device* dev = d != nullptr && d->present ? d : nullptr;
  const Model* m = a.model;
  const Deployment* dep = a.deployment;
  switch (c.attr) {
    case Attr::kPrincipalId:
      return member(p, &Principal::id, present);
    case Attr::kPrincipalKind:
      return member(p, &Principal::kind, present);
    case Attr::kPrincipalTeam:
      return member(p, &Principal::team, present, true);
    case Attr::kPrincipalClearance:
      return member(p, &Principal::clearance, present, true);
    case Attr::kPrincipalLabel:
      return label_of(p, c.label, present);
    case Attr::kDevicePresent:
      return bool_str(d && d->present);
    case Attr::kDeviceManaged:
      return bool_str(d && d->present && d->managed);
    case Attr::kDeviceCompliant:
      return bool_str(d && d->present && d->compliant);
    case Attr::kDeviceOs:
      return member(dev, &Device::os, present, true);
    case Attr::kPrincipalIssuer:
      return member(p, &Principal::issuer, present, true);
    case Attr::kDeviceBound:
      return bool_str(dev && dev->bound);
    case Attr::kDeviceId:
      return member(dev, &Device::id, present, true);
    case Attr::kDeviceOsVersion:
      return member(dev, &Device::os_version, present, true);
    case Attr::kDeviceDiskEncrypted:
      return bool_str(dev && dev->disk_encrypted);
    case Attr::kDevicePatchAgeDays:
      present = dev && dev->patch_age_days >= 0;
      scratch = present ? std::to_string(dev->patch_age_days) : "";
      return scratch;
    case Attr::kDevicePostureAgeS:
      present = dev && dev->posture_age_s >= 0;
      scratch = present ? std::to_string(dev->posture_age_s) : "";
      return scratch;
    case Attr::kPrincipalGroups:
    case Attr::kAuthMethods:
    case Attr::kRequestServerTools:
    case Attr::kRequestMcpHosts:
    case Attr::kCount:
      present = false;
      return "";
    case Attr::kRequestStore:
      present = a.request.store_known;
      return bool_str(a.request.store);
    case Attr::kDeviceLabel:
      return label_of(dev, c.label, present);
    case Attr::kModelName:
      return member(m, &Model::name, present);
    case Attr::kModelDeveloper:
      return member(m, &Model::developer, present);
    case Attr::kModelOrigin:
      return member(m, &Model::origin, present);
    case Attr::kModelOpenWeights:
      return bool_str(m && m->open_weights);
    case Attr::kModelLicense:
      return member(m, &Model::license, present, true);
    case Attr::kDeploymentName:
      return member(dep, &Deployment::name, present);
    case Attr::kDeploymentProvider:
      present = dep && dep->provider;
      return present ? std::string_view(dep->provider->name) : "";
    case Attr::kDeploymentOperator:
      return member(dep, &Deployment::operator_name, present);
    case Attr::kDeploymentJurisdiction:
      return member(dep, &Deployment::jurisdiction, present);
    case Attr::kDeploymentRegion:
      return member(dep, &Deployment::region, present);
    case Attr::kDeploymentTrainsOnInputs:
      return bool_str(dep && dep->trains_on_inputs);
    case Attr::kDeploymentHardware:
      return member(dep, &Deployment::hardware, present, true);
    case Attr::kDeploymentGridRegion:
      return member(dep, &Deployment::grid_region, present, true);
    case Attr::kDeploymentEnergyIn:
    case Attr::kDeploymentEnergyOut:
      present = dep && dep->has_energy;
      scratch = present
                    ? fmt_number(c.attr == Attr::kDeploymentEnergyIn ? dep->energy.wh_per_mtok_in
                                                                     : dep->energy.wh_per_mtok_out)
                    : "";
      return scratch;
    case Attr::kRequestKind:
      return call_kind_name(a.request.kind);
    case Attr::kRequestStream:
      return bool_str(a.request.stream);
    case Attr::kRequestHasTools:
      return bool_str(a.request.has_tools);
    case Attr::kDeploymentRetentionDays:
      scratch = dep ? std::to_string(dep->retention_days) : "";
      present = dep;
      return scratch;
    case Attr::kRequestEstimatedTokens:
      scratch = std::to_string(a.request.estimated_tokens);
      return scratch;
    case Attr::kTimeHour:
      scratch = std::to_string(a.hour);
      return scratch;
    case Attr::kTimeWeekday:
      scratch = std::to_string(a.weekday);
      return scratch;
    case Attr::kDataClasses:
      present = false;
      return "";
  }
  present = false;
  return "";
}

double number(const Condition& c, const Attributes& a, bool& present) {
  present = true;
  switch (c.attr) {
    case Attr::kDeploymentRetentionDays:
      present = a.deployment != nullptr;
      return a.deployment ? a.deployment->retention_days : 0;
    case Attr::kRequestEstimatedTokens:
      return a.request.estimated_tokens;
    case Attr::kDeploymentEnergyIn:
    case Attr::kDeploymentEnergyOut:
      // Absent where no energy figures were configured: neither lt nor gt holds.
      present = a.deployment != nullptr && a.deployment->has_energy;
      if (!present) return 0;
      return c.attr == Attr::kDeploymentEnergyIn ? a.deployment->energy.wh_per_mtok_in
                                                 : a.deployment->energy.wh_per_mtok_out;
    case Attr::kTimeHour:
      return a.hour;
    case Attr::kTimeWeekday:
      return a.weekday;
    case Attr::kDevicePatchAgeDays:
    case Attr::kDevicePostureAgeS: {
      const Device* d = a.device != nullptr && a.device->present ? a.device : nullptr;
      const int64_t v = d == nullptr                          ? -1
                        : c.attr == Attr::kDevicePatchAgeDays ? d->patch_age_days
                                                              : d->posture_age_s;
      present = v >= 0;
      return static_cast<double>(v);
    }
    default:
      present = false;
      return 0;
  }
}

bool class_in(std::string_view cls, const std::vector<std::string>& prefixes) {
  for (const std::string& p : prefixes) {
    if (inspect::class_matches(cls, p)) return true;
  }
  return false;
}

// The members of a set attribute other than data.classes; false when it is absent.
bool set_members(const Condition& c, const Attributes& a, std::vector<std::string_view>& out) {
  out.clear();
  if (c.attr == Attr::kPrincipalGroups) {
    if (a.principal == nullptr) return false;
    for (const std::string& g : a.principal->groups) out.emplace_back(g);
    return true;
  }
  if (c.attr == Attr::kRequestServerTools || c.attr == Attr::kRequestMcpHosts) {
    const auto& set =
        c.attr == Attr::kRequestServerTools ? a.request.server_tools : a.request.mcp_hosts;
    for (const std::string& m : set) out.emplace_back(m);
    return true;
  }
  static constexpr std::pair<uint8_t, std::string_view> kMethods[] = {
      {kAuthApiKey, "api_key"}, {kAuthJwt, "jwt"}, {kAuthMtls, "mtls"}};
  for (const auto& [bit, name] : kMethods) {
    if (a.auth_methods & bit) out.push_back(name);
  }
  return true;
}

// any / in: some member is named; none / not_in: none is; all: every named value is a member.
bool set_matches(const Condition& c, const Attributes& a) {
  std::vector<std::string_view> members;
  if (!set_members(c, a, members)) return c.op == Op::kNone || c.op == Op::kNotIn;
  auto named = [&c](std::string_view m) {
    return std::binary_search(c.values.begin(), c.values.end(), m);
  };
  switch (c.op) {
    case Op::kAny:
    case Op::kIn:
      return std::any_of(members.begin(), members.end(), named);
    case Op::kNone:
    case Op::kNotIn:
      return std::none_of(members.begin(), members.end(), named);
    case Op::kAll:
      return std::all_of(c.values.begin(), c.values.end(), [&](const std::string& v) {
        return std::find(members.begin(), members.end(), v) != members.end();
      });
    case Op::kExists:
      return !members.empty();
    default:
      return false;
  }
}

}  // namespace

bool matches(const Condition& c, const Attributes& a,
             const std::vector<std::string_view>& classes) {
  if (attr_type(c.attr) == AttrType::kSet && c.attr != Attr::kDataClasses) return set_matches(c, a);
  if (c.attr == Attr::kDataClasses) {
    switch (c.op) {
      case Op::kAny:
      case Op::kIn:
        for (std::string_view cls : classes) {
          if (class_in(cls, c.values)) return true;
        }
        return false;
      case Op::kNone:
      case Op::kNotIn:
        for (std::string_view cls : classes) {
          if (class_in(cls, c.values)) return false;
        }
        return true;
      case Op::kAll:
        for (const std::string& v : c.values) {
          bool found = false;
          for (std::string_view cls : classes) found = found || inspect::class_matches(cls, v);
          if (!found) return false;
        }
        return true;
      case Op::kExists:
        return !classes.empty();
      default:
        return false;
    }
  }
  if (c.op == Op::kLt || c.op == Op::kGt) {
    bool present = false;
    const double v = number(c, a, present);
    return present && (c.op == Op::kLt ? v < c.number : v > c.number);
  }
  std::string scratch;
  bool present = false;
  const std::string_view v = scalar(c, a, present, scratch);
  const bool in = present && std::binary_search(c.values.begin(), c.values.end(), v);
  switch (c.op) {
    case Op::kIn:
    case Op::kAny:
      return in;
    case Op::kNotIn:
    case Op::kNone:
      return !in;
    case Op::kAll:
      return in && c.values.size() == 1;
    case Op::kExists:
      return present && !v.empty();
    default:
      return false;
  }
}

namespace {
bool deployment_dependent(const Condition& c) {
  switch (c.attr) {
    case Attr::kDeploymentName:
    case Attr::kDeploymentProvider:
    case Attr::kDeploymentOperator:
    case Attr::kDeploymentJurisdiction:
    case Attr::kDeploymentRegion:
    case Attr::kDeploymentRetentionDays:
    case Attr::kDeploymentTrainsOnInputs:
    case Attr::kDeploymentHardware:
    case Attr::kDeploymentGridRegion:
    case Attr::kDeploymentEnergyIn:
    case Attr::kDeploymentEnergyOut:
    case Attr::kDataClasses:
      return true;  // classes: the residual differs per deployment
    default:
      return false;
  }
}
}  // namespace

void Policy::build_index() {
  decisions = {};
  transforms = {};
  interned.clear();
  class_values.clear();
  for (Rule& r : rules) {
    for (Condition& c : r.when) {
      if (c.attr == Attr::kDataClasses) {
        for (const std::string& v : c.values) {
          if (std::find(class_values.begin(), class_values.end(), v) == class_values.end())
            class_values.push_back(v);
        }
        continue;
      }
      c.ids.clear();
      for (const std::string& v : c.values) {
        c.ids.push_back(
            interned.emplace(v, static_cast<uint32_t>(interned.size() + 1)).first->second);
      }
      std::sort(c.ids.begin(), c.ids.end());
    }
  }
  class_bits_ok = class_values.size() <= 64;
  for (Rule& r : rules) {
    for (Condition& c : r.when) {
      if (c.attr != Attr::kDataClasses || !class_bits_ok) continue;
      c.class_bits = 0;
      for (const std::string& v : c.values) {
        const auto it = std::find(class_values.begin(), class_values.end(), v);
        c.class_bits |= uint64_t{1} << (it - class_values.begin());
      }
    }
  }
  for (uint32_t i = 0; i < rules.size(); ++i) {
    Rule& r = rules[i];
    if (r.effect == Effect::kOutput) continue;
    const Condition* key = nullptr;
    auto rank = [](Attr a) {
      return a == Attr::kDeploymentName  ? 3
             : a == Attr::kModelName     ? 2
             : a == Attr::kPrincipalTeam ? 1
                                         : 0;
    };
    for (const Condition& c : r.when) {
      if (c.op == Op::kIn && rank(c.attr) > 0 && (key == nullptr || rank(c.attr) > rank(key->attr)))
        key = &c;
    }
    r.dependent.clear();
    r.independent.clear();
    for (uint16_t k = 0; k < r.when.size(); ++k) {
      if (deployment_dependent(r.when[k]))
        r.dependent.push_back(k);
      else if (&r.when[k] != key)
        r.independent.push_back(k);  // the key holds when looked at
    }
    Index& ix = r.effect == Effect::kTransform ? transforms : decisions;
    if (key == nullptr) {
      ix.global.push_back(i);
      continue;
    }
    auto& index = key->attr == Attr::kDeploymentName ? ix.by_deployment
                  : key->attr == Attr::kModelName    ? ix.by_model
                                                     : ix.by_team;
    // Values are sorted; one named twice ("in: [a, a]") must not put the rule in its bucket
    // twice, or the rule would be applied (and listed in the decision) twice.
    for (size_t k = 0; k < key->values.size(); ++k) {
      if (k == 0 || key->values[k] != key->values[k - 1]) index[key->values[k]].push_back(i);
    }
  }
}

namespace {

constexpr uint32_t kAbsent = 0xFFFFFFFF;   // the attribute is not there
constexpr uint32_t kUnknown = 0xFFFFFFFE;  // there, but no condition names its value
constexpr size_t kAttrs = static_cast<size_t>(Attr::kCount);

// One decision's view of the attributes: each scalar looked up in the interned table once.
struct Eval {
  const Policy& p;
  Attributes a;                        // a copy: decide_all sets the deployment under evaluation
  std::array<uint32_t, kAttrs> ids{};  // 0: not looked up yet
  uint64_t classes = 0;                // bits of the classes being decided on

  uint32_t id(const Condition& c) {
    uint32_t& slot = ids[static_cast<size_t>(c.attr)];
    if (slot != 0) return slot;
    std::string scratch;
    bool present = false;
    const std::string_view v = scalar(c, a, present, scratch);
    if (!present) return slot = kAbsent;
    const auto it = p.interned.find(v);
    return slot = it == p.interned.end() ? kUnknown : it->second;
  }
  void set_deployment(const Deployment* d) {
    a.deployment = d;
    for (Attr x :
         {Attr::kDeploymentName, Attr::kDeploymentProvider, Attr::kDeploymentOperator,
          Attr::kDeploymentJurisdiction, Attr::kDeploymentRegion, Attr::kDeploymentRetentionDays,
          Attr::kDeploymentTrainsOnInputs, Attr::kDeploymentHardware, Attr::kDeploymentGridRegion,
          Attr::kDeploymentEnergyIn, Attr::kDeploymentEnergyOut})
      ids[static_cast<size_t>(x)] = 0;
  }
  void set_classes(const std::vector<std::string_view>& cls) {
    classes = 0;
    for (std::string_view c : cls) {
      for (size_t i = 0; i < p.class_values.size(); ++i) {
        if (inspect::class_matches(c, p.class_values[i])) classes |= uint64_t{1} << i;
      }
    }
  }
};

bool fast_matches(const Condition& c, Eval& e, const std::vector<std::string_view>& classes) {
  if (c.attr == Attr::kDataClasses) {
    if (!e.p.class_bits_ok) return matches(c, e.a, classes);
    switch (c.op) {
      case Op::kAny:
      case Op::kIn:
        return (e.classes & c.class_bits) != 0;
      case Op::kNone:
      case Op::kNotIn:
        return (e.classes & c.class_bits) == 0;
      case Op::kAll:
        return (e.classes & c.class_bits) == c.class_bits;
      case Op::kExists:
        return !classes.empty();
      default:
        return false;
    }
  }
  if (c.op == Op::kLt || c.op == Op::kGt || c.op == Op::kExists ||
      c.attr == Attr::kPrincipalLabel || c.attr == Attr::kDeviceLabel ||
      (attr_type(c.attr) == AttrType::kSet && c.attr != Attr::kDataClasses))
    return matches(c, e.a, classes);
  const uint32_t id = e.id(c);
  bool in = false;
  if (id != kAbsent && id != kUnknown) {
    for (uint32_t v : c.ids) in = in || v == id;
  }
  switch (c.op) {
    case Op::kIn:
    case Op::kAny:
      return in;
    case Op::kNotIn:
    case Op::kNone:
      return !in;
    case Op::kAll:
      return in && c.ids.size() == 1;
    default:
      return false;
  }
}

bool rule_matches(const Rule& r, const Attributes& a,
                  const std::vector<std::string_view>& classes) {
  for (const Condition& c : r.when) {
    if (!matches(c, a, classes)) return false;
  }
  return true;
}

template <typename F>
void for_candidate_rules(const Policy& policy, const Policy::Index& p, const Attributes& a, F&& f) {
  // Merge the three sorted buckets in rule order (rules keep their file order).
  static const std::vector<uint32_t> kEmpty;
  const std::vector<uint32_t>* buckets[4] = {&p.global, &kEmpty, &kEmpty, &kEmpty};
  if (a.model != nullptr && !p.by_model.empty()) {
    auto it = p.by_model.find(std::string_view(a.model->name));
    if (it != p.by_model.end()) buckets[1] = &it->second;
  }
  if (a.deployment != nullptr && !p.by_deployment.empty()) {
    auto it = p.by_deployment.find(a.deployment->name);
    if (it != p.by_deployment.end()) buckets[2] = &it->second;
  }
  // A principal without a team has no principal.team (absent, as matches() reads it): no rule
  // indexed under a team applies, not even one naming the empty string.
  if (a.principal != nullptr && !a.principal->team.empty() && !p.by_team.empty()) {
    auto it = p.by_team.find(a.principal->team);
    if (it != p.by_team.end()) buckets[3] = &it->second;
  }
  // Only the non-empty buckets take part; one alone is walked directly.
  const std::vector<uint32_t>* live[4];
  int n = 0;
  for (const auto* b : buckets) {
    if (!b->empty()) live[n++] = b;
  }
  if (n == 1) {
    for (uint32_t i : *live[0]) f(policy.rules[i]);
    return;
  }
  size_t pos[4] = {0, 0, 0, 0};
  for (;;) {
    int best = -1;
    for (int b = 0; b < n; ++b) {
      if (pos[b] < live[b]->size() && (best < 0 || (*live[b])[pos[b]] < (*live[best])[pos[best]]))
        best = b;
    }
    if (best < 0) return;
    f(policy.rules[(*live[best])[pos[best]++]]);
  }
}

}  // namespace

namespace {

// The rules of `ix` that may apply to this request whatever the deployment (global, the model's
// and the team's buckets), in rule order, whose deployment-independent conditions hold.
void request_rules(const Policy& policy, const Policy::Index& ix, Eval& e,
                   std::vector<uint32_t>& out) {
  out.clear();
  e.set_deployment(nullptr);
  static const std::vector<std::string_view> kNone;
  for_candidate_rules(policy, ix, e.a, [&](const Rule& r) {
    for (uint16_t k : r.independent) {
      if (!fast_matches(r.when[k], e, kNone)) return;
    }
    out.push_back(static_cast<uint32_t>(&r - policy.rules.data()));
  });
}

// Calls `f` for the request rules (only their deployment-dependent conditions left to check) and
// the deployment's own bucket (all conditions to check), in rule order.
template <typename F>
void for_deployment_rules(const Policy& policy, const Policy::Index& ix,
                          const std::vector<uint32_t>& request, const Deployment* d, F&& f) {
  static const std::vector<uint32_t> kEmpty;
  const std::vector<uint32_t>* own = &kEmpty;
  if (d != nullptr && !ix.by_deployment.empty()) {
    auto it = ix.by_deployment.find(std::string_view(d->name));
    if (it != ix.by_deployment.end()) own = &it->second;
  }
  size_t a = 0, b = 0;
  while (a < request.size() || b < own->size()) {
    if (b >= own->size() || (a < request.size() && request[a] < (*own)[b])) {
      f(policy.rules[request[a++]], true);
    } else {
      f(policy.rules[(*own)[b++]], false);
    }
  }
}

bool matches_rest(const Rule& r, bool only_dependent, Eval& e,
                  const std::vector<std::string_view>& classes) {
  if (only_dependent) {
    for (uint16_t k : r.dependent) {
      if (!fast_matches(r.when[k], e, classes)) return false;
    }
    return true;
  }
  for (const Condition& c : r.when) {
    if (!fast_matches(c, e, classes)) return false;
  }
  return true;
}

Decision decide_one(const Policy& policy, Eval& e, const Attributes& a, const Deployment* dep,
                    const std::vector<uint32_t>& transforms,
                    const std::vector<uint32_t>& decisions) {
  Decision d;
  e.set_deployment(dep);
  e.set_classes(a.classes);
  // Transforms first, on the classes found; what they remove does not cross.
  for_deployment_rules(policy, policy.transforms, transforms, dep, [&](const Rule& r, bool rest) {
    if (!matches_rest(r, rest, e, a.classes)) return;
    for (const std::string& c : r.classes) d.transforms.push_back({r.id, c, r.action});
  });
  for (std::string_view cls : a.classes) {
    bool removed = false;
    for (const Transform& t : d.transforms)
      removed = removed || inspect::class_matches(cls, t.cls_prefix);
    if (!removed) d.residual.push_back(cls);
  }
  // Reused per thread: a decision allocates only what it returns.
  thread_local std::vector<std::string_view> permits;
  thread_local std::vector<std::string_view> forbids;
  permits.clear();
  forbids.clear();
  if (d.residual.size() != a.classes.size()) e.set_classes(d.residual);
  for_deployment_rules(policy, policy.decisions, decisions, dep, [&](const Rule& r, bool rest) {
    // Once a forbid matched, permits cannot change the outcome (nor its explanation).
    if (r.effect == Effect::kPermit && !forbids.empty()) return;
    if (!matches_rest(r, rest, e, d.residual)) return;
    (r.effect == Effect::kPermit ? permits : forbids).push_back(r.id);
  });
  if (!forbids.empty()) {
    d.rules = forbids;
    return d;
  }
  if (permits.empty()) return d;
  d.permit = true;
  d.rules = permits;
  for (const Transform& t : d.transforms) {
    if (std::find(d.rules.begin(), d.rules.end(), t.rule) == d.rules.end())
      d.rules.push_back(t.rule);
  }
  return d;
}

}  // namespace

std::vector<Decision> decide_all(const Policy& policy, const Attributes& a,
                                 std::span<const Deployment* const> deployments) {
  Eval e{policy, a};
  thread_local std::vector<uint32_t> transforms;
  thread_local std::vector<uint32_t> decisions;
  request_rules(policy, policy.transforms, e, transforms);
  request_rules(policy, policy.decisions, e, decisions);
  std::vector<Decision> out;
  out.reserve(deployments.size());
  for (const Deployment* d : deployments) {
    out.push_back(decide_one(policy, e, a, d, transforms, decisions));
  }
  return out;
}

Decision decide(const Policy& policy, const Attributes& a) {
  const Deployment* one[1] = {a.deployment};
  return std::move(decide_all(policy, a, one).front());
}

std::string reason(const Decision& d) {
  if (d.permit) return "permitted";
  if (d.rules.empty()) return "no rule permits it";
  // Names up to three rules; `rules` holds them all.
  std::string r = d.rules.size() > 1 ? "forbidden by rules " : "forbidden by rule ";
  for (size_t i = 0; i < d.rules.size() && i < 3; ++i) {
    if (i) r += ", ";
    r += d.rules[i];
  }
  if (d.rules.size() > 3) r += " and " + std::to_string(d.rules.size() - 3) + " more";
  return r;
}

namespace {

bool is_device(Attr a) {
  switch (a) {
    case Attr::kDevicePresent:
    case Attr::kDeviceBound:
    case Attr::kDeviceId:
    case Attr::kDeviceManaged:
    case Attr::kDeviceCompliant:
    case Attr::kDeviceOs:
    case Attr::kDeviceOsVersion:
    case Attr::kDeviceDiskEncrypted:
    case Attr::kDevicePatchAgeDays:
    case Attr::kDevicePostureAgeS:
    case Attr::kDeviceLabel:
      return true;
    default:
      return false;
  }
}

// "device.managed in [false]", as the rule is written.
std::string describe(const Condition& c) {
  std::string out = c.attr == Attr::kDeviceLabel ? "device.labels." + c.label : "";
  for (const auto& [name, attr] : kNames) {
    if (attr == c.attr) out = name;
  }
  static constexpr std::string_view kOpNames[] = {"in",   "not_in", "any", "all",
                                                  "none", "lt",     "gt",  "exists"};
  out += ' ';
  out += kOpNames[static_cast<size_t>(c.op)];
  if (c.op == Op::kLt || c.op == Op::kGt) {
    char buf[32];
    const auto r = std::to_chars(buf, buf + sizeof buf, c.number);
    out += ' ';
    out.append(buf, r.ptr);
  } else if (c.op != Op::kExists) {
    out += " [";
    for (size_t i = 0; i < c.values.size(); ++i) out += (i ? ", " : "") + c.values[i];
    out += ']';
  }
  return out;
}

}  // namespace

std::string reason(const Policy& policy, const Decision& d, const Attributes& a) {
  std::string r = reason(d);
  if (d.permit) return r;
  // The device conditions behind the denial: those of the forbid rules named (they all held), or,
  // when no rule permits, those that failed in permit rules whose other conditions held — what
  // the caller's device would have to change. Three at most, like the rules.
  std::vector<std::string> device;
  auto add = [&](const Condition& c) {
    if (device.size() < 3) device.push_back(describe(c));
  };
  if (!d.rules.empty()) {
    for (size_t i = 0; i < d.rules.size() && i < 3; ++i) {
      for (const Rule& rule : policy.rules) {
        if (rule.id != d.rules[i] || rule.effect != Effect::kForbid) continue;
        for (const Condition& c : rule.when)
          if (is_device(c.attr)) add(c);
      }
    }
  } else {
    for (const Rule& rule : policy.rules) {
      if (rule.effect != Effect::kPermit) continue;
      bool others_hold = true, device_failed = false;
      for (const Condition& c : rule.when) {
        const bool holds = matches(c, a, a.classes);
        if (is_device(c.attr))
          device_failed |= !holds;
        else
          others_hold &= holds;
      }
      if (!others_hold || !device_failed) continue;
      for (const Condition& c : rule.when)
        if (is_device(c.attr) && !matches(c, a, a.classes)) add(c);
    }
  }
  if (device.empty()) return r;
  r += d.rules.empty() ? " (the device does not meet " : " (the device meets ";
  for (size_t i = 0; i < device.size(); ++i) r += (i ? ", " : "") + device[i];
  r += ')';
  return r;
}

std::vector<OutputRule> output_rules(const Policy& policy, const Attributes& a) {
  std::vector<OutputRule> out;
  for (const Rule& r : policy.rules) {
    if (r.effect != Effect::kOutput || !rule_matches(r, a, a.classes)) continue;
    for (const std::string& c : r.classes) out.push_back({r.id, c, r.end_stream});
  }
  return out;
}

}  // namespace warden::policy
