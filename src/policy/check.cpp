#include "policy/check.h"

#include <algorithm>

namespace warden::policy {

namespace {

bool same(const Condition& a, const Condition& b) {
  return a.attr == b.attr && a.label == b.label && a.op == b.op && a.values == b.values &&
         a.number == b.number;
}

bool intersects(const std::vector<std::string>& a, const std::vector<std::string>& b) {
  for (const std::string& x : a) {
    if (std::binary_search(b.begin(), b.end(), x)) return true;
  }
  return false;
}

// Syntactic contradictions between the conditions of one rule.
std::string never_matches(const Rule& r, const Catalog& catalog) {
  for (size_t i = 0; i < r.when.size(); ++i) {
    const Condition& c = r.when[i];
    if ((c.op == Op::kIn || c.op == Op::kAny || c.op == Op::kAll) && c.values.empty())
      return "a condition with no values";
    if (attr_type(c.attr) == AttrType::kBool && c.op == Op::kIn) {
      for (const std::string& v : c.values) {
        if (v != "true" && v != "false") return "a boolean compared with '" + v + "'";
      }
    }
    for (size_t j = i + 1; j < r.when.size(); ++j) {
      const Condition& o = r.when[j];
      // Sets: two members may each be named by one condition.
      if (c.attr != o.attr || c.label != o.label || attr_type(c.attr) == AttrType::kSet) continue;
      if (c.op == Op::kIn && o.op == Op::kIn && !intersects(c.values, o.values))
        return "two 'in' conditions on one attribute with no value in common";
      if (c.op == Op::kIn && o.op == Op::kNotIn &&
          std::all_of(c.values.begin(), c.values.end(), [&](const std::string& v) {
            return std::binary_search(o.values.begin(), o.values.end(), v);
          }))
        return "'in' values all excluded by 'not_in'";
      if (o.op == Op::kIn && c.op == Op::kNotIn &&
          std::all_of(o.values.begin(), o.values.end(), [&](const std::string& v) {
            return std::binary_search(c.values.begin(), c.values.end(), v);
          }))
        return "'in' values all excluded by 'not_in'";
      const Condition* lt = c.op == Op::kLt ? &c : (o.op == Op::kLt ? &o : nullptr);
      const Condition* gt = c.op == Op::kGt ? &c : (o.op == Op::kGt ? &o : nullptr);
      if (lt && gt && gt->number >= lt->number - 1e-9 && lt != gt)
        return "'gt' and 'lt' bounds that leave no value";
    }
  }
  // A model and a deployment that do not belong together.
  const Condition* models = nullptr;
  const Condition* deps = nullptr;
  for (const Condition& c : r.when) {
    if (c.op == Op::kIn && c.attr == Attr::kModelName) models = &c;
    if (c.op == Op::kIn && c.attr == Attr::kDeploymentName) deps = &c;
  }
  if (models && deps) {
    bool any = false;
    for (const std::string& m : models->values) {
      const Model* model = catalog.find(m);
      if (!model) continue;
      for (const Deployment& d : model->deployments)
        any = any || std::binary_search(deps->values.begin(), deps->values.end(), d.name);
    }
    if (!any) return "its models and deployments do not belong together";
  }
  return {};
}

bool known_deployment(const Catalog& catalog, const std::string& name) {
  for (const Model& m : catalog.models) {
    for (const Deployment& d : m.deployments) {
      if (d.name == name) return true;
    }
  }
  return false;
}

}  // namespace

std::vector<Problem> check(const Policy& policy, const Catalog& catalog,
                           const std::vector<std::string>& classes) {
  std::vector<Problem> out;
  auto known_class = [&](const std::string& prefix) {
    return std::any_of(classes.begin(), classes.end(),
                       [&](const std::string& c) { return inspect::class_matches(c, prefix); });
  };
  for (const Rule& r : policy.rules) {
    for (const Condition& c : r.when) {
      for (const std::string& v : c.values) {
        if (c.attr == Attr::kDataClasses && !known_class(v))
          out.push_back({c.line, "rule '" + r.id + "': unknown data class '" + v + "'"});
        if (c.attr == Attr::kModelName && catalog.find(v) == nullptr)
          out.push_back({c.line, "rule '" + r.id + "': unknown model '" + v + "'"});
        if (c.attr == Attr::kDeploymentName && !known_deployment(catalog, v))
          out.push_back({c.line, "rule '" + r.id + "': unknown deployment '" + v + "'"});
        if (c.attr == Attr::kDeploymentProvider && catalog.find_provider(v) == nullptr)
          out.push_back({c.line, "rule '" + r.id + "': unknown provider '" + v + "'"});
      }
    }
    for (const std::string& cls : r.classes) {
      if (!known_class(cls))
        out.push_back({r.line, "rule '" + r.id + "': unknown data class '" + cls + "'"});
    }
    const std::string why = never_matches(r, catalog);
    if (!why.empty()) out.push_back({r.line, "rule '" + r.id + "' can never match: " + why});
  }
  // A forbid whose conditions are all among a permit's conditions overrides it whenever it
  // matches: the permit can never take effect.
  for (const Rule& p : policy.rules) {
    if (p.effect != Effect::kPermit) continue;
    for (const Rule& f : policy.rules) {
      if (f.effect != Effect::kForbid) continue;
      const bool covered = std::all_of(f.when.begin(), f.when.end(), [&](const Condition& fc) {
        return std::any_of(p.when.begin(), p.when.end(),
                           [&](const Condition& pc) { return same(fc, pc); });
      });
      if (covered) {
        out.push_back({p.line, "permit '" + p.id + "' is always overridden by forbid '" + f.id +
                                   "' (line " + std::to_string(f.line) + ")"});
        break;
      }
    }
  }
  // Models that no permit could reach (warning).
  for (const Model& m : catalog.models) {
    bool reachable = false;
    for (const Deployment& d : m.deployments) {
      for (const Rule& r : policy.rules) {
        if (r.effect != Effect::kPermit) continue;
        bool excluded = false;
        for (const Condition& c : r.when) {
          if (c.op != Op::kIn) continue;
          if (c.attr == Attr::kModelName &&
              !std::binary_search(c.values.begin(), c.values.end(), m.name))
            excluded = true;
          if (c.attr == Attr::kDeploymentName &&
              !std::binary_search(c.values.begin(), c.values.end(), d.name))
            excluded = true;
        }
        reachable = reachable || !excluded;
      }
    }
    if (!reachable)
      out.push_back(
          {1, "model '" + m.name + "' has no deployment any permit rule could permit", true});
  }
  return out;
}

}  // namespace warden::policy
