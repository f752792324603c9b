// The plan for one request: everything decided about it, before anything is done. A pure
// function of the attributes, the classes found (and where they sit in the body) and the
// configured inspection actions — no I/O, no clock. The gateway executes the plan (transform,
// forward, inspect the answer with the rules of the deployment that answered); `warden policy
// test`, `warden explain`, `warden replay` and `/v1/models` report it. One decision everywhere.
//
// Precedence, for each class: the strictest of block > end > mask > pseudonymise > allow wins,
// whichever of the configured `inspect.actions` and the policy's transform and output rules
// names it (inspect::ActionTable).
#pragma once

#include <cstdint>
#include <map>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "policy/policy.h"

namespace warden::policy {

struct DeploymentPlan {
  const Deployment* deployment = nullptr;
  bool permit = false;
  Decision decision;    // the policy's decision (rules, transforms, residual classes)
  std::string why_not;  // a denial beyond the rules (unmaskable, uninspectable), for people
  inspect::ActionTable request_actions;  // configured actions + this deployment's transforms
  inspect::ActionTable answer_actions;   // configured actions + this deployment's output rules
};

// Why `p` is denied, for people: a denial beyond the rules, else the policy's reason with the
// device conditions behind it.
std::string denial(const Policy& policy, const Attributes& attrs, const DeploymentPlan& p);

struct RequestPlan {
  // Classes whose configured action is block: the request is refused whatever the deployment.
  std::map<std::string, uint32_t, std::less<>> blocked;
  std::vector<DeploymentPlan> deployments;  // the candidates, in preference order

  const DeploymentPlan* first_permitted() const;
  const DeploymentPlan* find(const Deployment* d) const;
  // "a: forbidden by rule x (the device meets device.managed in [false]); b: no rule permits
  // it" — each denied deployment's reason (`policy` and `attrs` as planned).
  std::string denials(const Policy& policy, const Attributes& attrs) const;
};

// The classes found in a request and where: `places` holds inspect::place_bit()s (keys, numbers,
// token ids) per class; may be null (no body: /v1/models, replay of old records).
struct Findings {
  const std::map<std::string, uint32_t, std::less<>>* counts = nullptr;
  const std::map<std::string, uint8_t, std::less<>>* places = nullptr;
};

// `configured` is the configuration's `inspect.actions` (null: inspection off). `attrs.classes`
// must be the found classes; `attrs.deployment` is not read.
RequestPlan plan(const Policy& policy, const inspect::ActionTable* configured,
                 const Attributes& attrs, std::span<const Deployment* const> candidates,
                 const Findings& findings = {});

}  // namespace warden::policy
