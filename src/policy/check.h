// Load-time safety checks: unenforceable policy never goes live.
#pragma once

#include <string>
#include <vector>

#include "catalog/catalog.h"
#include "policy/compiled.h"

namespace warden::policy {

struct Problem {
  int line;
  std::string message;
  bool warning = false;  // reported, but the configuration still loads
};

// Rejects: unknown values (classes, models, deployments, providers), rules that can never
// match, permits that a forbid always overrides. Warns: models no rule could permit.
std::vector<Problem> check(const Policy& policy, const Catalog& catalog,
                           const std::vector<std::string>& classes);

}  // namespace warden::policy
