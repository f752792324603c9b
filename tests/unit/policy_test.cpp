#include <gtest/gtest.h>

#include <random>

#include "config/config.h"
#include "policy/check.h"
#include "policy/compiled.h"

namespace warden::policy {
namespace {

const char* kBase = R"(
providers:
  - {name: p, base_url: "http://127.0.0.1:1/v1"}
models:
  - name: deepseek-r1
    developer: DeepSeek
    origin: CN
    open_weights: true
    deployments:
      - {name: dsr1-api, provider: p, operator: DeepSeek, jurisdiction: CN, region: cn-east}
      - {name: dsr1-us-cloud, provider: p, operator: CloudCo, jurisdiction: US, region: us-east}
      - {name: dsr1-inhouse, provider: p, operator: Bank, jurisdiction: DE, region: fra}
  - name: gpt
    developer: OpenAI
    origin: US
    deployments:
      - {name: gpt-eu, provider: p, operator: Microsoft, jurisdiction: US, region: sweden, retention_days: 30}
)";

ConfigPtr load(const std::string& policy) {
  return load_config_text(std::string(kBase) + policy, "p.yaml");
}

std::vector<std::string> problems(const std::string& policy) {
  try {
    load(policy);
  } catch (const ConfigError& e) {
    std::vector<std::string> out;
    for (const auto& d : e.diagnostics()) out.push_back(d.str());
    return out;
  }
  return {};
}

struct Case {
  explicit Case(const Config& config) : c(config) {}
  const Config& c;
  Principal principal{"alice", "person", "risk", "internal", {}, {}, {}, {}};
  Device device;
  const Model* model = nullptr;
  std::vector<std::string_view> classes;
  Attributes attrs(const Deployment* d) const {
    Attributes a;
    a.principal = &principal;
    a.device = &device;
    a.model = model;
    a.deployment = d;
    a.classes = classes;
    return a;
  }
  // The first permitted deployment's name, or "" when all are denied.
  std::string route() const {
    for (const Deployment& d : model->deployments) {
      if (decide(*c.policy, attrs(&d)).permit) return d.name;
    }
    return "";
  }
};

const char* kBank = R"(
policy:
  rules:
    - {id: staff, effect: permit, when: [{attr: principal.kind, op: in, values: [person]}]}
    - id: no-personal-data-abroad
      effect: forbid
      when:
        - {attr: data.classes, op: any, values: [pii, fin]}
        - {attr: deployment.jurisdiction, op: not_in, values: [DE, EU]}
    - id: deepseek-only-inhouse
      effect: forbid
      when:
        - {attr: model.developer, op: in, values: [DeepSeek]}
        - {attr: deployment.operator, op: not_in, values: [Bank]}
        - {attr: data.classes, op: exists}
    - id: pseudonymise-email-for-us
      effect: transform
      action: pseudonymise
      classes: [pii.email]
      when: [{attr: deployment.jurisdiction, op: in, values: [US]}]
)";

TEST(Policy, RoutesOnTheDataThatWouldCross) {
  auto c = load(kBank);
  Case k(*c);
  k.model = c->catalog.find("deepseek-r1");
  EXPECT_EQ(k.route(), "dsr1-api");  // no data found: the first deployment
  k.classes = {"pii.phone"};
  EXPECT_EQ(k.route(), "dsr1-inhouse");  // personal data stays in Germany
  k.classes = {"pii.email"};
  // The e-mail is pseudonymised for US operators: nothing personal crosses to the US cloud, so
  // the in-house rule (which looks at the residual data) does not apply there; the CN API would
  // receive it in clear and is forbidden.
  EXPECT_EQ(k.route(), "dsr1-us-cloud");
  k.model = c->catalog.find("gpt");
  EXPECT_EQ(k.route(), "gpt-eu");  // the e-mail is pseudonymised: nothing personal crosses
  const Decision d = decide(*c->policy, k.attrs(&k.model->deployments[0]));
  ASSERT_TRUE(d.permit);
  EXPECT_TRUE(d.residual.empty());
  ASSERT_EQ(d.transforms.size(), 1u);
  EXPECT_EQ(d.transforms[0].action, inspect::Action::kPseudonymise);
  EXPECT_EQ(d.rules, (std::vector<std::string_view>{"staff", "pseudonymise-email-for-us"}));
  k.classes = {"fin.iban"};
  const Decision denied = decide(*c->policy, k.attrs(&k.model->deployments[0]));
  EXPECT_FALSE(denied.permit);
  EXPECT_EQ(denied.rules, (std::vector<std::string_view>{"no-personal-data-abroad"}));
  EXPECT_EQ(k.route(), "");
}

TEST(Policy, EnergyRulesReadTheDeploymentsHardwareAndFigures) {
  auto c = load_config_text(R"(
providers:
  - {name: p, base_url: "http://127.0.0.1:1/v1"}
models:
  - name: llama
    developer: Meta
    origin: US
    deployments:
      - {name: unknown, provider: p, operator: A, jurisdiction: DE, region: fra}
      - {name: h100, provider: p, operator: A, jurisdiction: DE, region: fra, hardware: h100,
         grid_region: DE, energy: {wh_per_mtok_in: 40, wh_per_mtok_out: 180}}
      - {name: l4, provider: p, operator: A, jurisdiction: DE, region: fra, hardware: l4,
         grid_region: SE-SE3, energy: {wh_per_mtok_in: 8, wh_per_mtok_out: 35.5}}
policy:
  rules:
    - id: measured
      effect: permit
      when: [{attr: deployment.energy.wh_per_mtok_out, op: lt, values: [200]}]
    - id: no-h100-for-batch
      effect: forbid
      when: [{attr: principal.team, op: in, values: [batch]}, {attr: deployment.hardware, op: in, values: [h100]}]
    - id: clean-grid-for-green
      effect: forbid
      when: [{attr: principal.team, op: in, values: [green]}, {attr: deployment.grid_region, op: not_in, values: [SE-SE3]}]
)",
                            "e.yaml");
  Case k(*c);
  k.model = c->catalog.find("llama");
  // A deployment without energy figures meets no lt/gt condition on them: not permitted.
  EXPECT_EQ(k.route(), "h100");
  k.principal.team = "batch";
  EXPECT_EQ(k.route(), "l4");
  k.principal.team = "green";
  EXPECT_EQ(k.route(), "l4");
  const Decision d = decide(*c->policy, k.attrs(&k.model->deployments[1]));
  EXPECT_EQ(d.rules, (std::vector<std::string_view>{"clean-grid-for-green"}));
  EXPECT_EQ(k.model->deployments[2].energy.wh_per_mtok_out, 35.5);
}

TEST(Policy, DefaultDenyAndDevices) {
  auto c = load(R"(
policy:
  rules:
    - {id: managed-only, effect: permit, when: [{attr: device.managed, op: in, values: [true]}]}
)");
  Case k(*c);
  k.model = c->catalog.find("gpt");
  EXPECT_EQ(k.route(), "");  // no device identity yet: device.present is false
  k.device.present = true;
  k.device.managed = true;
  EXPECT_EQ(k.route(), "gpt-eu");
  auto none = load("");
  Case n(*none);
  n.model = none->catalog.find("gpt");
  EXPECT_EQ(n.route(), "");
  ASSERT_FALSE(none->warnings.empty());
  EXPECT_EQ(none->warnings[0], "p.yaml:1: no 'policy' section: every request is denied");
}

TEST(Policy, LoadTimeChecksNameTheLine) {
  const auto p = problems(R"(
policy:
  rules:
    - {id: a, effect: permit, when: [{attr: principal.shoe_size, op: in, values: [42]}]}
    - {id: b, effect: permit, when: [{attr: data.classes, op: any, values: [pii.shoe]}]}
    - {id: c, effect: permit, when: [{attr: model.name, op: in, values: [gpt-9]}]}
    - {id: d, effect: permit, when: [{attr: deployment.name, op: in, values: [nowhere]}]}
    - id: e
      effect: permit
      when:
        - {attr: principal.team, op: in, values: [risk]}
        - {attr: principal.team, op: in, values: [sales]}
    - {id: f, effect: permit, when: [{attr: time.hour, op: gt, values: [18]}, {attr: time.hour, op: lt, values: [8]}]}
    - {id: g, effect: permit, when: [{attr: model.name, op: in, values: [gpt]}, {attr: deployment.name, op: in, values: [dsr1-api]}]}
    - {id: h, effect: permit, when: [{attr: principal.team, op: in, values: [ops]}]}
    - {id: i, effect: forbid, when: [{attr: principal.team, op: in, values: [ops]}]}
    - {id: j, effect: permit, when: [{attr: principal.team, op: lt, values: [3]}]}
)");
  ASSERT_EQ(p.size(), 9u) << ::testing::PrintToString(p);
  EXPECT_EQ(p[0], "p.yaml:21: unknown attribute 'principal.shoe_size'");
  EXPECT_EQ(p[1], "p.yaml:34: 'lt' needs a numeric attribute; 'principal.team' is not");
  EXPECT_EQ(p[2], "p.yaml:22: rule 'b': unknown data class 'pii.shoe'");
  EXPECT_EQ(p[3], "p.yaml:23: rule 'c': unknown model 'gpt-9'");
  EXPECT_EQ(p[4], "p.yaml:24: rule 'd': unknown deployment 'nowhere'");
  EXPECT_EQ(p[5],
            "p.yaml:25: rule 'e' can never match: two 'in' conditions on one attribute with no "
            "value in common");
  EXPECT_EQ(p[6], "p.yaml:30: rule 'f' can never match: 'gt' and 'lt' bounds that leave no value");
  EXPECT_EQ(
      p[7],
      "p.yaml:31: rule 'g' can never match: its models and deployments do not belong together");
  EXPECT_EQ(p[8], "p.yaml:32: permit 'h' is always overridden by forbid 'i' (line 33)");
}

// Random policies and requests: the algebra of permit and forbid.
struct Gen {
  explicit Gen(const Config& config) : c(config) {}
  std::mt19937 rng{7};
  const Config& c;
  std::vector<std::string> teams{"risk", "ops", "sales"};
  std::vector<std::string> classes{"pii.email", "pii.phone", "fin.iban", "secret.jwt"};
  std::vector<std::string> prefixes{"pii", "fin", "secret", "pii.email"};
  std::vector<std::string> juris{"CN", "US", "DE"};
  template <typename T>
  const T& pick(const std::vector<T>& v) {
    return v[rng() % v.size()];
  }
  Condition cond(bool allow_classes) {
    Condition c;
    switch (rng() % (allow_classes ? 4 : 3)) {
      case 0:
        c.attr = Attr::kPrincipalTeam;
        c.op = rng() % 2 ? Op::kIn : Op::kNotIn;
        c.values = {pick(teams)};
        break;
      case 1:
        c.attr = Attr::kDeploymentJurisdiction;
        c.op = rng() % 2 ? Op::kIn : Op::kNotIn;
        c.values = {pick(juris)};
        break;
      case 2:
        c.attr = Attr::kModelOpenWeights;
        c.op = Op::kIn;
        c.values = {rng() % 2 ? "true" : "false"};
        break;
      default:
        c.attr = Attr::kDataClasses;
        c.op = rng() % 2 ? Op::kAny : Op::kNone;
        c.values = {pick(prefixes)};
        break;
    }
    return c;
  }
  Rule rule(Effect e, int n, bool allow_classes, int id) {
    Rule r;
    r.id = (e == Effect::kPermit ? "p" : "f") + std::to_string(id);
    r.effect = e;
    for (int i = 0; i < n; ++i) r.when.push_back(cond(allow_classes));
    return r;
  }
};

bool permitted(const Policy& p, const Attributes& a) {
  return decide(p, a).permit;
}

TEST(PolicyProperties, ForbidNeverAddsPermitNeverRemoves) {
  auto c = load("");
  Gen g(*c);
  for (int round = 0; round < 2000; ++round) {
    Policy p;
    const int n = 1 + static_cast<int>(g.rng() % 6);
    for (int i = 0; i < n; ++i)
      p.rules.push_back(
          g.rule(g.rng() % 2 ? Effect::kPermit : Effect::kForbid, 1 + g.rng() % 2, true, i));
    p.build_index();
    Principal pr{"x", "person", g.pick(g.teams), "", {}, {}, {}, {}};
    Device dev;
    const Model& m = c->catalog.models[g.rng() % 2];
    const Deployment& d = m.deployments[g.rng() % m.deployments.size()];
    Attributes a{&pr, &dev, 0, &m, &d, {}, {}, 0, 1};
    std::vector<std::string> cls;
    for (const auto& x : g.classes)
      if (g.rng() % 3 == 0) cls.push_back(x);
    for (const auto& x : cls) a.classes.push_back(x);
    const bool before = permitted(p, a);
    Policy more_forbid = p;
    more_forbid.rules.push_back(g.rule(Effect::kForbid, 1 + g.rng() % 2, true, 99));
    more_forbid.build_index();
    if (!before) {
      EXPECT_FALSE(permitted(more_forbid, a)) << "round " << round;
    }
    Policy more_permit = p;
    more_permit.rules.push_back(g.rule(Effect::kPermit, 1 + g.rng() % 2, true, 98));
    more_permit.build_index();
    if (before) {
      EXPECT_TRUE(permitted(more_permit, a)) << "round " << round;
    }
  }
}

TEST(PolicyProperties, DecideAllEqualsDecidePerDeployment) {
  auto c = load("");
  Gen g(*c);
  for (int round = 0; round < 2000; ++round) {
    Policy p;
    const int n = 1 + static_cast<int>(g.rng() % 8);
    for (int i = 0; i < n; ++i) {
      const uint32_t kind = g.rng() % 3;
      Rule r = g.rule(kind == 0 ? Effect::kForbid : Effect::kPermit, 1 + g.rng() % 3, true, i);
      if (kind == 2) {
        r.effect = Effect::kTransform;
        r.classes = {g.pick(g.prefixes)};
      }
      p.rules.push_back(std::move(r));
    }
    p.build_index();
    Principal pr{"x", "person", g.pick(g.teams), "", {}, {}, {}, {}};
    Device dev;
    const Model& m = c->catalog.models[g.rng() % 2];
    Attributes a{&pr, &dev, 0, &m, nullptr, {}, {}, 0, 1};
    for (const auto& x : g.classes)
      if (g.rng() % 3 == 0) a.classes.push_back(x);
    std::vector<const Deployment*> deps;
    for (const Deployment& d : m.deployments) deps.push_back(&d);
    const std::vector<Decision> all = decide_all(p, a, deps);
    ASSERT_EQ(all.size(), deps.size());
    for (size_t i = 0; i < deps.size(); ++i) {
      a.deployment = deps[i];
      const Decision one = decide(p, a);
      EXPECT_EQ(all[i].permit, one.permit) << "round " << round;
      EXPECT_EQ(all[i].rules, one.rules) << "round " << round;
      EXPECT_EQ(all[i].residual, one.residual) << "round " << round;
    }
  }
}

TEST(PolicyProperties, RemovingAFindingNeverDeniesWhenPermitsIgnoreClasses) {
  auto c = load("");
  Gen g(*c);
  for (int round = 0; round < 2000; ++round) {
    Policy p;
    const int n = 1 + static_cast<int>(g.rng() % 6);
    for (int i = 0; i < n; ++i) {
      const bool permit = g.rng() % 2;
      p.rules.push_back(
          g.rule(permit ? Effect::kPermit : Effect::kForbid, 1 + g.rng() % 2, !permit, i));
      // Forbids may look at classes only to forbid their presence (any), never their absence.
      for (Condition& cond : p.rules.back().when)
        if (cond.attr == Attr::kDataClasses) cond.op = Op::kAny;
    }
    p.build_index();
    Principal pr{"x", "person", g.pick(g.teams), "", {}, {}, {}, {}};
    Device dev;
    const Model& m = c->catalog.models[g.rng() % 2];
    const Deployment& d = m.deployments[g.rng() % m.deployments.size()];
    std::vector<std::string_view> all(g.classes.begin(), g.classes.end());
    Attributes a{&pr, &dev, 0, &m, &d, {}, all, 0, 1};
    const bool with = permitted(p, a);
    a.classes.erase(a.classes.begin() + static_cast<long>(g.rng() % a.classes.size()));
    if (with) {
      EXPECT_TRUE(permitted(p, a)) << "round " << round;
    }
  }
}

TEST(Policy, StoreAndServerToolsAreRequestAttributes) {
  auto c = load(R"(
policy:
  rules:
    - {id: staff, effect: permit}
    - id: nothing-kept-by-gpt
      effect: forbid
      when: [{attr: model.name, op: in, values: [gpt]}, {attr: request.store, op: in, values: ["true"]}]
    - id: only-our-mcp
      effect: forbid
      when: [{attr: request.server_tools, op: any, values: [mcp]}, {attr: request.mcp_hosts, op: none, values: [mcp.bank.example]}]
)");
  Case k(*c);
  k.model = c->catalog.find("gpt");
  auto permitted = [&](bool store, std::vector<std::string> tools, std::vector<std::string> hosts) {
    Attributes a = k.attrs(&k.model->deployments[0]);
    a.request.store = store;
    a.request.server_tools = tools;
    a.request.mcp_hosts = hosts;
    const bool one = decide(*c->policy, a).permit;
    const Deployment* const only[] = {&k.model->deployments[0]};
    const bool all = decide_all(*c->policy, a, only)[0].permit;
    EXPECT_EQ(one, all);
    return one;
  };
  EXPECT_TRUE(permitted(false, {}, {}));
  EXPECT_FALSE(permitted(true, {}, {}));
  EXPECT_TRUE(permitted(false, {"mcp"}, {"mcp.bank.example"}));
  EXPECT_FALSE(permitted(false, {"mcp"}, {"mcp.evil.example"}));
  EXPECT_TRUE(permitted(false, {"web_search"}, {}));
  // A record written before request.store existed: absent, so the forbid is not satisfied.
  Attributes old = k.attrs(&k.model->deployments[0]);
  old.request.store = true;
  old.request.store_known = false;
  EXPECT_TRUE(decide(*c->policy, old).permit);
}

}  // namespace
}  // namespace warden::policy
