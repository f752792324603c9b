#include "cli/policy_command.h"

#include <yaml-cpp/yaml.h>

#include <filesystem>
#include <fstream>
#include <iostream>
#include <sstream>

#include "api/api.h"
#include "config/config.h"
#include "inspect/body.h"
#include "policy/plan.h"
#include "policy/policy.h"

namespace warden::cli {

namespace {

template <typename T>
std::string join(const std::vector<T>& v) {
  std::string out;
  for (std::string_view s : v) out += (out.empty() ? "" : ", ") + std::string(s);
  return out.empty() ? "-" : out;
}

// A device as `policy test` cases and `explain --device` describe it (YAML): present unless
// `present: false`; posture claims count only when `bound` (as the gateway trusts them).
policy::Device read_device(const YAML::Node& d) {
  policy::Device device;
  device.present = d["present"].as<bool>(true);
  device.bound = d["bound"].as<bool>(true);
  device.id = d["id"].as<std::string>("");
  device.managed = d["managed"].as<bool>(false);
  device.compliant = d["compliant"].as<bool>(false);
  device.os = d["os"].as<std::string>("");
  device.os_version = d["os_version"].as<std::string>("");
  device.disk_encrypted = d["disk_encrypted"].as<bool>(false);
  device.patch_age_days = d["patch_age_days"].as<int64_t>(-1);
  device.posture_age_s = d["posture_age_s"].as<int64_t>(-1);
  if (d["labels"]) device.labels = d["labels"].as<std::map<std::string, std::string>>();
  if (!device.bound) device.managed = device.compliant = false;
  return device;
}

// auth.methods from a list of names (api_key, jwt, mtls).
uint8_t read_methods(const YAML::Node& n) {
  uint8_t methods = 0;
  for (const YAML::Node& m : n) {
    const std::string name = m.as<std::string>("");
    methods |= name == "api_key" ? policy::kAuthApiKey
               : name == "jwt"   ? policy::kAuthJwt
               : name == "mtls"  ? policy::kAuthMtls
                                 : 0;
  }
  return methods;
}

}  // namespace

int run_policy_test(const std::string& file) {
  YAML::Node root;
  ConfigPtr config;
  try {
    root = YAML::LoadFile(file);
    const std::filesystem::path base = std::filesystem::path(file).parent_path();
    config = load_config((base / root["config"].as<std::string>()).string());
  } catch (const ConfigError& e) {
    for (const auto& d : e.diagnostics()) std::cerr << d.str() << "\n";
    return 1;
  } catch (const std::exception& e) {
    std::cerr << file << ": " << e.what() << "\n";
    return 1;
  }
  int failures = 0;
  int count = 0;
  for (const YAML::Node& c : root["cases"]) {
    ++count;
    const std::string name = c["name"].as<std::string>("case " + std::to_string(count));
    const int line = c.Mark().line + 1;
    Principal principal;
    policy::Device device;
    if (const YAML::Node p = c["principal"]) {
      principal.id = p["id"].as<std::string>("");
      principal.kind = p["kind"].as<std::string>("person");
      principal.team = p["team"].as<std::string>("");
      principal.clearance = p["clearance"].as<std::string>("");
      if (p["labels"]) principal.labels = p["labels"].as<std::map<std::string, std::string>>();
      principal.issuer = p["issuer"].as<std::string>("");
      if (p["groups"]) principal.groups = p["groups"].as<std::vector<std::string>>();
    }
    if (const YAML::Node d = c["device"]) device = read_device(d);
    const std::string model_name = c["model"].as<std::string>("");
    const Model* model = config->catalog.find(model_name);
    if (model == nullptr) {
      std::cout << "FAIL " << file << ":" << line << " " << name << ": unknown model '"
                << model_name << "'\n";
      ++failures;
      continue;
    }
    std::vector<std::string> classes;
    if (c["classes"]) classes = c["classes"].as<std::vector<std::string>>();
    policy::Attributes a;
    a.principal = &principal;
    a.device = &device;
    a.auth_methods = c["auth"] ? read_methods(c["auth"]) : policy::kAuthApiKey;
    a.model = model;
    for (const auto& cl : classes) a.classes.push_back(cl);
    std::vector<std::string> server_tools, mcp_hosts;
    if (const YAML::Node r = c["request"]) {
      a.request.stream = r["stream"].as<bool>(false);
      a.request.has_tools = r["has_tools"].as<bool>(false);
      a.request.store = r["store"].as<bool>(false);
      if (r["server_tools"]) server_tools = r["server_tools"].as<std::vector<std::string>>();
      if (r["mcp_hosts"]) mcp_hosts = r["mcp_hosts"].as<std::vector<std::string>>();
      a.request.server_tools = server_tools;
      a.request.mcp_hosts = mcp_hosts;
      a.request.estimated_tokens = r["estimated_tokens"].as<uint32_t>(0);
    }
    a.hour = c["time"] ? c["time"]["hour"].as<int>(12) : 12;
    a.weekday = c["time"] ? c["time"]["weekday"].as<int>(3) : 3;
    std::string got = "deny";
    std::string chosen;
    std::string trail;
    // The gateway's own plan: configured block actions, policy, transforms, what cannot be read.
    std::map<std::string, uint32_t, std::less<>> counts;
    for (const auto& cl : classes) ++counts[cl];
    std::vector<const Deployment*> deps;
    for (const Deployment& d : model->deployments) deps.push_back(&d);
    const policy::RequestPlan plan =
        policy::plan(*config->policy, config->inspect.enabled ? &config->inspect.actions : nullptr,
                     a, deps, {&counts, nullptr});
    if (!plan.blocked.empty()) trail += "    blocked by inspect.actions\n";
    for (const policy::DeploymentPlan& p : plan.deployments) {
      const policy::Decision& dec = p.decision;
      trail += "    " + p.deployment->name + ": " + (p.permit ? "permit" : "deny") + " (" +
               join(dec.rules) + (p.permit ? "" : "; " + policy::denial(*config->policy, a, p)) +
               ")\n";
      if (p.permit && chosen.empty()) {
        got = "permit";
        chosen = p.deployment->name;
      }
    }
    const std::string want = c["expect"]["decision"].as<std::string>("");
    const std::string want_dep = c["expect"]["deployment"].as<std::string>("");
    const bool ok = want == got && (want_dep.empty() || want_dep == chosen);
    if (ok) {
      std::cout << "ok   " << name << "\n";
    } else {
      ++failures;
      std::cout << "FAIL " << file << ":" << line << " " << name << "\n  expected " << want
                << (want_dep.empty() ? "" : " via " + want_dep) << ", got " << got
                << (chosen.empty() ? "" : " via " + chosen) << "\n"
                << trail;
    }
  }
  std::cout << count - failures << "/" << count << " cases pass\n";
  return failures == 0 && count > 0 ? 0 : 1;
}

int run_explain(const ExplainOptions& o) {
  ConfigPtr config;
  try {
    config = load_config(o.config);
  } catch (const ConfigError& e) {
    for (const auto& d : e.diagnostics()) std::cerr << d.str() << "\n";
    return 1;
  }
  auto principal = config->keys.authenticate(o.key);
  if (!principal) {
    std::cerr << "explain: " << principal.error().message << "\n";
    return 1;
  }
  std::string body;
  if (!o.request.empty()) {
    std::ifstream in(o.request, std::ios::binary);
    std::stringstream ss;
    ss << in.rdbuf();
    body = ss.str();
  } else {
    body = "{\"model\":\"" + o.model + "\",\"messages\":[{\"role\":\"user\",\"content\":" + [&] {
      std::string q = "\"";
      for (char ch : o.text) {
        if (ch == '"' || ch == '\\') q.push_back('\\');
        if (ch == '\n') {
          q += "\\n";
          continue;
        }
        q.push_back(ch);
      }
      return q + "\"";
    }() + "}]}";
  }
  const std::string model_name = o.model.empty() ? "" : o.model;
  const Model* model = config->catalog.find(model_name);
  if (model == nullptr) {
    std::cerr << "explain: unknown model '" << model_name << "'\n";
    return 1;
  }
  inspect::Scratch scratch;
  inspect::BodyScan scan;
  if (config->inspect.enabled && inspect::scan_body(*config->inspect.engine, scratch, body, scan) !=
                                     inspect::BodyScanStatus::kOk) {
    std::cerr << "explain: the request cannot be inspected\n";
    return 1;
  }
  std::cout << "principal: " << (*principal)->id << " (team " << (*principal)->team
            << ", clearance " << (*principal)->clearance << ")\nfindings:\n";
  for (const auto& s : scan.strings) {
    for (const auto& f : s.findings)
      std::cout << "  " << f.cls << " [" << f.start << "," << f.end << ") confidence "
                << f.confidence << "\n";
  }
  policy::Device device;
  if (!o.device.empty()) {
    try {
      device = read_device(std::filesystem::exists(o.device) ? YAML::LoadFile(o.device)
                                                             : YAML::Load(o.device));
    } catch (const std::exception& e) {
      std::cerr << "explain: --device: " << e.what() << "\n";
      return 1;
    }
    std::cout << "device: " << (device.id.empty() ? "(no id)" : device.id)
              << (device.bound ? "" : " (posture not bound: managed/compliant not trusted)")
              << ", managed " << device.managed << ", compliant " << device.compliant << "\n";
  }
  policy::Attributes a;
  a.principal = *principal;
  a.device = &device;
  a.auth_methods = policy::kAuthApiKey;
  a.model = model;
  for (const auto& [cls, n] : scan.counts) a.classes.push_back(cls);
  // request.*: read from the body as the gateway reads it.
  CallKind kind = CallKind::kChat;
  if (!call_kind_from_name(o.kind, kind)) {
    std::cerr << "explain: unknown --kind '" << o.kind << "'\n";
    return 1;
  }
  simdjson::dom::parser parser;
  const Result<Call> call = parse_call(kind, body, parser);
  if (!call) {
    std::cerr << "explain: " << call.error().message << "\n";
    return 1;
  }
  a.request = {kind,        call->stream, call->estimated_input_tokens, call->has_tools,
               call->store, true,         call->server_tools,           call->mcp_hosts};
  std::cout << "request: " << o.kind << (call->store ? ", store" : "")
            << (call->server_tools.empty() ? "" : ", server tools " + join(call->server_tools))
            << (call->mcp_hosts.empty() ? "" : ", MCP hosts " + join(call->mcp_hosts)) << "\n";
  std::cout << "deployments (preference order):\n";
  bool chosen = false;
  std::vector<const Deployment*> deps;
  for (const Deployment& d : model->deployments) deps.push_back(&d);
  const policy::RequestPlan plan =
      policy::plan(*config->policy, config->inspect.enabled ? &config->inspect.actions : nullptr, a,
                   deps, {&scan.counts, &scan.places});
  if (!plan.blocked.empty()) std::cout << "  blocked by inspect.actions (block)\n";
  for (const policy::DeploymentPlan& p : plan.deployments) {
    const Deployment& d = *p.deployment;
    const policy::Decision& dec = p.decision;
    std::cout << "  " << d.name << " [" << d.operator_name << ", " << d.jurisdiction << ", "
              << d.region;
    // What energy rules read: the accelerators, the grid and Wh per million tokens.
    if (!d.hardware.empty()) std::cout << ", hardware " << d.hardware;
    if (!d.grid_region.empty()) std::cout << ", grid " << d.grid_region;
    if (d.has_energy)
      std::cout << ", " << d.energy.wh_per_mtok_in << "/" << d.energy.wh_per_mtok_out
                << " Wh per Mtok in/out";
    std::cout << "]: " << (p.permit ? "PERMIT" : "DENY") << "\n    rules: " << join(dec.rules)
              << "\n";
    if (!p.permit) std::cout << "    reason: " << policy::denial(*config->policy, a, p) << "\n";
    for (const auto& t : dec.transforms)
      std::cout << "    transform: " << t.cls_prefix << " -> " << inspect::action_name(t.action)
                << " (" << t.rule << ")\n";
    std::cout << "    would cross: " << join(dec.residual) << "\n";
    if (p.permit && !chosen) {
      std::cout << "    => chosen\n";
      chosen = true;
    }
  }
  if (!chosen) std::cout << "=> denied for every deployment (403)\n";
  return 0;
}

}  // namespace warden::cli
