#include "policy/plan.h"

#include "policy/compiled.h"

namespace warden::policy {

namespace {

constexpr std::string_view kUninspectable = "uninspectable";

// Content Warden cannot read is denied unless a permit rule that decided names its class (or
// `uninspectable`) in a data.classes condition: a rule that permits everything does not count.
bool explicitly_permitted(const Policy& policy, const Decision& d, std::string_view cls) {
  for (std::string_view id : d.rules) {
    for (const Rule& r : policy.rules) {
      if (r.id != id || r.effect != Effect::kPermit) continue;
      for (const Condition& c : r.when) {
        if (c.attr != Attr::kDataClasses || c.op == Op::kNone) continue;
        for (const std::string& v : c.values) {
          if (inspect::class_matches(cls, v)) return true;
        }
      }
    }
  }
  return false;
}

// Why a permitted deployment cannot take the request as transformed, or "" when it can.
std::string unservable(const Policy& policy, const DeploymentPlan& p, const Findings& f) {
  if (f.counts == nullptr) return {};
  for (const auto& [cls, n] : *f.counts) {
    const inspect::Action a = p.request_actions.action_for(cls);
    if (cls.compare(0, kUninspectable.size(), kUninspectable) == 0) {
      if (!explicitly_permitted(policy, p.decision, cls))
        return "content Warden cannot read as text (" + cls + ") is not permitted";
      continue;
    }
    if (a == inspect::Action::kAllow || f.places == nullptr) continue;
    const auto it = f.places->find(cls);
    if (it == f.places->end()) continue;
    const uint8_t bits = it->second;
    const char* done = a == inspect::Action::kPseudonymise ? "pseudonymised" : "masked";
    if (bits & inspect::place_bit(inspect::Place::kNumber))
      return cls + " found in a number, which cannot be " + done;
    if (bits & inspect::place_bit(inspect::Place::kTokens))
      return cls + " found in token ids, which cannot be " + done;
    if (bits & inspect::place_bit(inspect::Place::kNested))
      return cls + " found in JSON nested inside JSON, which cannot be " + done;
    if ((bits & inspect::place_bit(inspect::Place::kKey)) && a == inspect::Action::kMask)
      return cls + " found in an object key, which cannot be masked";
  }
  return {};
}

}  // namespace

const DeploymentPlan* RequestPlan::first_permitted() const {
  for (const DeploymentPlan& p : deployments) {
    if (p.permit) return &p;
  }
  return nullptr;
}

const DeploymentPlan* RequestPlan::find(const Deployment* d) const {
  for (const DeploymentPlan& p : deployments) {
    if (p.deployment == d) return &p;
  }
  return nullptr;
}

std::string denial(const Policy& policy, const Attributes& attrs, const DeploymentPlan& p) {
  if (!p.why_not.empty()) return p.why_not;
  Attributes with = attrs;
  with.deployment = p.deployment;
  return reason(policy, p.decision, with);
}

std::string RequestPlan::denials(const Policy& policy, const Attributes& attrs) const {
  std::string out;
  for (const DeploymentPlan& p : deployments) {
    if (p.permit) continue;
    if (!out.empty()) out += "; ";
    out += p.deployment->name + ": " + denial(policy, attrs, p);
  }
  return out;
}

RequestPlan plan(const Policy& policy, const inspect::ActionTable* configured,
                 const Attributes& attrs, std::span<const Deployment* const> candidates,
                 const Findings& findings) {
  RequestPlan out;
  if (configured != nullptr && findings.counts != nullptr) {
    for (const auto& [cls, n] : *findings.counts) {
      if (configured->action_for(cls) == inspect::Action::kBlock) out.blocked[cls] = n;
    }
  }
  std::vector<Decision> decisions = decide_all(policy, attrs, candidates);
  out.deployments.reserve(candidates.size());
  Attributes with = attrs;
  for (size_t i = 0; i < candidates.size(); ++i) {
    DeploymentPlan p;
    p.deployment = candidates[i];
    p.decision = std::move(decisions[i]);
    p.permit = p.decision.permit && out.blocked.empty();
    if (p.permit) {
      if (configured != nullptr) p.request_actions = *configured;
      for (const Transform& t : p.decision.transforms)
        p.request_actions.set(std::string(t.cls_prefix), t.action, inspect::ActionTable::kPolicy);
      p.why_not = unservable(policy, p, findings);
      p.permit = p.why_not.empty();
    }
    if (p.permit) {
      with.deployment = p.deployment;
      if (configured != nullptr) p.answer_actions = *configured;
      for (const OutputRule& o : output_rules(policy, with)) {
        p.answer_actions.set(std::string(o.cls_prefix),
                             o.end_stream ? inspect::Action::kBlock : inspect::Action::kMask,
                             inspect::ActionTable::kPolicy);
      }
    }
    out.deployments.push_back(std::move(p));
  }
  return out;
}

}  // namespace warden::policy
