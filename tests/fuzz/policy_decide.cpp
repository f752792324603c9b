// Fuzz target: policy::decide on random policies and requests. The policy is built the way the
// loader builds it (rules in file order, condition values sorted, operators of the attribute's
// type, then build_index()); the attributes are random too.
// Property: the indexed, interned decision (decide_all over the candidate deployments, and
// decide() for each) equals the plain reading of the rules — every condition evaluated by
// matches() on the strings, every rule looked at in order: transforms on the classes found,
// permit and forbid on the residual classes, default deny, forbid overrides permit.
#include <fuzzer/FuzzedDataProvider.h>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <string>
#include <vector>

#include "fuzz.h"
#include "policy/compiled.h"

using namespace warden;
using namespace warden::policy;

namespace {

const char* const kWords[] = {"",   "a",  "b",        "eu",  "DE",     "research", "person",
                              "m1", "m2", "d1",       "d2",  "p1",     "true",     "false",
                              "0",  "30", "internal", "env", "secret", "pii.email"};
const char* const kPrefixes[] = {"pii",   "pii.email", "pii.phone", "secret", "secret.aws_key",
                                 "fin",   "fin.iban",  "id",        "id.us",  "custom.project",
                                 "pii.e", "id.us_ssn"};
const char* const kClasses[] = {"pii.email", "pii.phone", "secret.aws_key",
                                "fin.iban",  "id.us_ssn", "custom.project"};
const char* const kAttrs[] = {"principal.id",
                              "principal.kind",
                              "principal.team",
                              "principal.clearance",
                              "principal.labels.env",
                              "device.present",
                              "device.managed",
                              "device.compliant",
                              "device.os",
                              "device.labels.env",
                              "model.name",
                              "model.developer",
                              "model.origin",
                              "model.open_weights",
                              "model.license",
                              "deployment.name",
                              "deployment.provider",
                              "deployment.operator",
                              "deployment.jurisdiction",
                              "deployment.region",
                              "deployment.retention_days",
                              "deployment.trains_on_inputs",
                              "data.classes",
                              "request.kind",
                              "request.stream",
                              "request.estimated_tokens",
                              "request.has_tools",
                              "time.hour",
                              "time.weekday"};

template <typename T, size_t N>
const char* pick(FuzzedDataProvider& in, T (&list)[N]) {
  return list[in.ConsumeIntegralInRange<size_t>(0, N - 1)];
}

Condition condition(FuzzedDataProvider& in) {
  Condition c;
  FUZZ_CHECK(parse_attr(pick(in, kAttrs), c.attr, c.label), "attribute");
  const AttrType type = attr_type(c.attr);
  static const Op kScalarOps[] = {Op::kIn, Op::kNotIn, Op::kExists};
  static const Op kNumberOps[] = {Op::kIn, Op::kNotIn, Op::kExists, Op::kLt, Op::kGt};
  static const Op kSetOps[] = {Op::kIn, Op::kNotIn, Op::kExists, Op::kAny, Op::kAll, Op::kNone};
  c.op = type == AttrType::kSet      ? kSetOps[in.ConsumeIntegralInRange<size_t>(0, 5)]
         : type == AttrType::kNumber ? kNumberOps[in.ConsumeIntegralInRange<size_t>(0, 4)]
                                     : kScalarOps[in.ConsumeIntegralInRange<size_t>(0, 2)];
  if (c.op == Op::kLt || c.op == Op::kGt) {
    c.number = in.ConsumeIntegralInRange<int>(-2, 40);
    c.values.push_back(std::to_string(static_cast<int>(c.number)));
  } else if (c.op != Op::kExists) {
    const size_t n = in.ConsumeIntegralInRange<size_t>(0, 3);
    for (size_t i = 0; i < n; ++i)
      c.values.push_back(type == AttrType::kSet ? pick(in, kPrefixes) : pick(in, kWords));
  }
  std::sort(c.values.begin(), c.values.end());
  return c;
}

// The rules read plainly: no index, no interning, no class bits.
Decision reference(const Policy& p, const Attributes& a) {
  auto holds = [&](const Rule& r, const std::vector<std::string_view>& classes) {
    return std::all_of(r.when.begin(), r.when.end(),
                       [&](const Condition& c) { return matches(c, a, classes); });
  };
  Decision d;
  for (const Rule& r : p.rules) {
    if (r.effect != Effect::kTransform || !holds(r, a.classes)) continue;
    for (const std::string& c : r.classes) d.transforms.push_back({r.id, c, r.action});
  }
  for (std::string_view cls : a.classes) {
    const bool removed = std::any_of(d.transforms.begin(), d.transforms.end(), [&](const auto& t) {
      return inspect::class_matches(cls, t.cls_prefix);
    });
    if (!removed) d.residual.push_back(cls);
  }
  std::vector<std::string_view> permits, forbids;
  for (const Rule& r : p.rules) {
    if (r.effect != Effect::kPermit && r.effect != Effect::kForbid) continue;
    if (holds(r, d.residual)) (r.effect == Effect::kPermit ? permits : forbids).push_back(r.id);
  }
  // Forbid overrides permit; a permit names its permits, then the transforms' rules once each.
  d.permit = forbids.empty() && !permits.empty();
  d.rules = forbids.empty() ? permits : forbids;
  for (size_t i = 0; d.permit && i < d.transforms.size(); ++i) {
    if (std::count(d.rules.begin(), d.rules.end(), d.transforms[i].rule) == 0)
      d.rules.push_back(d.transforms[i].rule);
  }
  return d;
}

bool same(const Decision& x, const Decision& y) {
  auto same_transforms = [](const std::vector<Transform>& a, const std::vector<Transform>& b) {
    return std::equal(a.begin(), a.end(), b.begin(), b.end(), [](const auto& s, const auto& t) {
      return s.rule == t.rule && s.cls_prefix == t.cls_prefix && s.action == t.action;
    });
  };
  return x.permit == y.permit && x.rules == y.rules && x.residual == y.residual &&
         same_transforms(x.transforms, y.transforms);
}

// For a broken property: the policy, the request and both decisions, on stderr.
void explain(const Policy& p, const Attributes& a, const Decision& got, const Decision& want) {
  static const char* const kOps[] = {"in", "not_in", "any", "all", "none", "lt", "gt", "exists"};
  for (const Rule& r : p.rules) {
    std::fprintf(stderr, "rule %s effect %d classes", r.id.c_str(), static_cast<int>(r.effect));
    for (const auto& c : r.classes) std::fprintf(stderr, " %s", c.c_str());
    std::fprintf(stderr, "\n");
    for (const Condition& c : r.when) {
      std::fprintf(stderr, "  attr %d.%s %s", static_cast<int>(c.attr), c.label.c_str(),
                   kOps[static_cast<int>(c.op)]);
      for (const auto& v : c.values) std::fprintf(stderr, " '%s'", v.c_str());
      std::fprintf(stderr, "\n");
    }
  }
  if (a.principal)
    std::fprintf(stderr, "principal id '%s' kind '%s' team '%s' clearance '%s'\n",
                 a.principal->id.c_str(), a.principal->kind.c_str(), a.principal->team.c_str(),
                 a.principal->clearance.c_str());
  std::fprintf(stderr, "model '%s' deployment '%s'\n", a.model->name.c_str(),
               a.deployment->name.c_str());
  for (const Decision* d : {&got, &want}) {
    std::fprintf(stderr, "%s: permit %d rules", d == &got ? "decide" : "plain", d->permit);
    for (auto r : d->rules) std::fprintf(stderr, " %.*s", static_cast<int>(r.size()), r.data());
    std::fprintf(stderr, "\n");
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  FuzzedDataProvider in(data, size);
  Policy policy;
  const size_t n_rules = in.ConsumeIntegralInRange<size_t>(0, 8);
  for (size_t i = 0; i < n_rules; ++i) {
    Rule r;
    r.id = "r" + std::to_string(i);
    r.effect = static_cast<Effect>(in.ConsumeIntegralInRange<int>(0, 3));
    r.action = in.ConsumeBool() ? inspect::Action::kMask : inspect::Action::kPseudonymise;
    r.end_stream = in.ConsumeBool();
    if (r.effect == Effect::kTransform || r.effect == Effect::kOutput) {
      const size_t n = in.ConsumeIntegralInRange<size_t>(1, 2);
      for (size_t k = 0; k < n; ++k) r.classes.push_back(pick(in, kPrefixes));
    }
    const size_t n_when = in.ConsumeIntegralInRange<size_t>(0, 4);
    for (size_t k = 0; k < n_when; ++k) r.when.push_back(condition(in));
    policy.rules.push_back(std::move(r));
  }
  policy.build_index();

  Principal principal{
      pick(in, kWords), pick(in, kWords), pick(in, kWords), pick(in, kWords), {}, {}, {}, {}};
  if (in.ConsumeBool()) principal.labels["env"] = pick(in, kWords);
  Device device;
  device.present = in.ConsumeBool();
  device.managed = in.ConsumeBool();
  device.compliant = in.ConsumeBool();
  device.os = pick(in, kWords);
  if (in.ConsumeBool()) device.labels["env"] = pick(in, kWords);
  Provider providers[2];
  providers[0].name = "p1";
  providers[1].name = pick(in, kWords);
  Model model;
  model.name = pick(in, kWords);
  model.developer = pick(in, kWords);
  model.origin = pick(in, kWords);
  model.license = pick(in, kWords);
  model.open_weights = in.ConsumeBool();
  const size_t n_dep = in.ConsumeIntegralInRange<size_t>(1, 3);
  for (size_t i = 0; i < n_dep; ++i) {
    Deployment d;
    d.name = pick(in, kWords);
    d.provider = in.ConsumeBool() ? &providers[in.ConsumeIntegralInRange<int>(0, 1)] : nullptr;
    d.operator_name = pick(in, kWords);
    d.jurisdiction = pick(in, kWords);
    d.region = pick(in, kWords);
    d.retention_days = in.ConsumeIntegralInRange<int>(0, 40);
    d.trains_on_inputs = in.ConsumeBool();
    model.deployments.push_back(std::move(d));
  }
  Attributes a;
  a.principal = in.ConsumeBool() ? &principal : nullptr;
  a.device = in.ConsumeBool() ? &device : nullptr;
  a.model = &model;
  a.request.kind = static_cast<CallKind>(in.ConsumeIntegralInRange<int>(0, 2));
  a.request.stream = in.ConsumeBool();
  a.request.estimated_tokens = in.ConsumeIntegralInRange<uint32_t>(0, 40);
  a.request.has_tools = in.ConsumeBool();
  a.hour = in.ConsumeIntegralInRange<int>(0, 23);
  a.weekday = in.ConsumeIntegralInRange<int>(1, 7);
  const size_t n_classes = in.ConsumeIntegralInRange<size_t>(0, 3);
  for (size_t i = 0; i < n_classes; ++i) a.classes.push_back(pick(in, kClasses));

  std::vector<const Deployment*> candidates;
  for (const Deployment& d : model.deployments) candidates.push_back(&d);
  const std::vector<Decision> all = decide_all(policy, a, candidates);
  FUZZ_CHECK(all.size() == candidates.size(), "one decision per deployment");
  for (size_t i = 0; i < candidates.size(); ++i) {
    Attributes one = a;
    one.deployment = candidates[i];
    const Decision expected = reference(policy, one);
    if (!same(all[i], expected)) explain(policy, one, all[i], expected);
    FUZZ_CHECK(same(all[i], expected), "decide_all() reads the rules as written");
    FUZZ_CHECK(same(decide(policy, one), expected), "decide() reads the rules as written");
  }
  return 0;
}
