// decide() over three candidate deployments, for policies of 10, 100 and 1,000 rules:
// median and p99 per request (counters), plus the compile time and memory of 1,000 rules.
#include <benchmark/benchmark.h>

#include <algorithm>
#include <chrono>
#include <random>

#include "policy/compiled.h"
#include "policy/policy.h"

namespace wp = warden::policy;

namespace {

struct World {
  warden::Catalog catalog;
  std::vector<std::string> teams{"risk", "ops", "sales", "legal", "platform", "support"};
  std::vector<std::string> juris{"CN", "US", "DE", "EU", "FR", "JP"};
  std::vector<std::string> classes{"pii.email", "pii.phone", "fin.iban", "secret.jwt", "id.fr_nir"};
  World() {
    auto p = std::make_unique<warden::Provider>();
    p->name = "p";
    for (int m = 0; m < 200; ++m) {
      warden::Model model;
      model.name = "model-" + std::to_string(m);
      model.developer = "dev-" + std::to_string(m % 20);
      model.origin = juris[m % juris.size()];
      for (int d = 0; d < 3; ++d) {
        warden::Deployment dep;
        dep.name = model.name + "-d" + std::to_string(d);
        dep.provider = p.get();
        dep.operator_name = "op-" + std::to_string((m + d) % 10);
        dep.jurisdiction = juris[(m + d) % juris.size()];
        model.deployments.push_back(dep);
      }
      catalog.models.push_back(std::move(model));
    }
    catalog.providers.push_back(std::move(p));
    catalog.index();
  }
};

const World& world() {
  static const World w;
  return w;
}

// Realistic mixes: most rules name the models they govern; some are global.
wp::Policy make_policy(size_t n, uint32_t seed) {
  std::mt19937 rng(seed);
  const World& w = world();
  wp::Policy p;
  for (size_t i = 0; i < n; ++i) {
    wp::Rule r;
    r.id = "r" + std::to_string(i);
    const int kind = static_cast<int>(rng() % 10);
    r.effect =
        kind < 5 ? wp::Effect::kPermit : (kind < 9 ? wp::Effect::kForbid : wp::Effect::kTransform);
    if (r.effect == wp::Effect::kTransform) r.classes = {"pii"};
    if (rng() % 10 < 8) {
      wp::Condition c{
          wp::Attr::kModelName, "", wp::Op::kIn, {w.catalog.models[rng() % 200].name}, 0, 0, {}, 0};
      r.when.push_back(c);
    }
    wp::Condition team{wp::Attr::kPrincipalTeam,
                       "",
                       wp::Op::kIn,
                       {w.teams[rng() % w.teams.size()], w.teams[rng() % w.teams.size()]},
                       0,
                       0,
                       {},
                       0};
    std::sort(team.values.begin(), team.values.end());
    r.when.push_back(team);
    if (rng() % 2) {
      wp::Condition j{
          wp::Attr::kDeploymentJurisdiction, "", wp::Op::kNotIn, {"DE", "EU"}, 0, 0, {}, 0};
      r.when.push_back(j);
    }
    if (rng() % 2) {
      wp::Condition c{
          wp::Attr::kDataClasses, "", wp::Op::kAny, {rng() % 2 ? "pii" : "fin"}, 0, 0, {}, 0};
      r.when.push_back(c);
    }
    p.rules.push_back(std::move(r));
  }
  p.build_index();
  return p;
}

void BM_Decide3Deployments(benchmark::State& state) {
  const size_t n = static_cast<size_t>(state.range(0));
  const wp::Policy policy = make_policy(n, 42);
  const World& w = world();
  std::mt19937 rng(1);
  warden::Principal principal{"u", "person", "risk", "internal", {}, {}, {}, {}};
  wp::Device device;
  std::vector<double> ns;
  ns.reserve(1 << 20);
  size_t permits = 0;
  for (auto _ : state) {
    const warden::Model& m = w.catalog.models[rng() % 200];
    principal.team = w.teams[rng() % w.teams.size()];
    wp::Attributes a;
    a.principal = &principal;
    a.device = &device;
    a.model = &m;
    if (rng() % 2) a.classes = {"pii.email"};
    const warden::Deployment* deps[3] = {&m.deployments[0], &m.deployments[1], &m.deployments[2]};
    const auto t0 = std::chrono::steady_clock::now();
    const std::vector<wp::Decision> decisions = wp::decide_all(policy, a, deps);
    for (const wp::Decision& d : decisions) {
      if (d.permit) {
        ++permits;
        break;
      }
    }
    ns.push_back(
        std::chrono::duration<double, std::nano>(std::chrono::steady_clock::now() - t0).count());
  }
  std::sort(ns.begin(), ns.end());
  state.counters["median_ns"] = ns[ns.size() / 2];
  state.counters["p99_ns"] = ns[ns.size() * 99 / 100];
  state.counters["permit_rate"] = static_cast<double>(permits) / static_cast<double>(ns.size());
}
BENCHMARK(BM_Decide3Deployments)->Arg(10)->Arg(100)->Arg(1000);

void BM_Compile1000Rules(benchmark::State& state) {
  for (auto _ : state) {
    wp::Policy p = make_policy(1000, 42);
    benchmark::DoNotOptimize(p.rules.data());
  }
  // Memory: the rules' own storage (strings and vectors), counted by hand.
  const wp::Policy p = make_policy(1000, 42);
  size_t bytes = sizeof(p) + p.rules.capacity() * sizeof(wp::Rule);
  for (const wp::Rule& r : p.rules) {
    bytes += r.id.capacity() + r.when.capacity() * sizeof(wp::Condition);
    for (const wp::Condition& c : r.when) {
      bytes += c.values.capacity() * sizeof(std::string);
      for (const std::string& v : c.values) bytes += v.capacity() > 15 ? v.capacity() : 0;
    }
  }
  for (const auto* ix : {&p.decisions, &p.transforms}) {
    for (const auto* m : {&ix->by_model, &ix->by_deployment, &ix->by_team})
      for (const auto& [k, v] : *m) bytes += k.capacity() + v.capacity() * 4 + 64;
    bytes += ix->global.capacity() * 4;
  }
  for (const auto& [k, v] : p.interned) bytes += k.capacity() + 32;
  state.counters["rule_bytes"] = static_cast<double>(bytes);
}
BENCHMARK(BM_Compile1000Rules)->Unit(benchmark::kMillisecond);

}  // namespace

BENCHMARK_MAIN();
