// Test tool: evaluates decide() for many requests read as JSON lines, for the differential test
// against Cedar (tests/integration/cedar_diff.test.mjs). Input line:
//   {"principal":{"id","kind","team","clearance"},"model":"…","deployment":"…",
//    "classes":["pii.email",…],"tokens":N,"stream":bool}
// Output line: "permit" or "deny".
#include <simdjson.h>

#include <iostream>
#include <string>

#include "config/config.h"
#include "policy/policy.h"

int main(int argc, char** argv) {
  if (argc != 2) {
    std::cerr << "usage: policy_eval CONFIG < requests.jsonl\n";
    return 2;
  }
  warden::ConfigPtr config;
  try {
    config = warden::load_config(argv[1]);
  } catch (const warden::ConfigError& e) {
    for (const auto& d : e.diagnostics()) std::cerr << d.str() << "\n";
    return 2;
  }
  simdjson::dom::parser parser;
  std::string line;
  while (std::getline(std::cin, line)) {
    simdjson::dom::element doc;
    if (parser.parse(line).get(doc) != simdjson::SUCCESS) return 2;
    warden::Principal p;
    std::string_view s;
    auto get = [&](simdjson::dom::element e, const char* k) {
      return e[k].get_string().get(s) == simdjson::SUCCESS ? std::string(s) : std::string();
    };
    simdjson::dom::element pe;
    if (doc["principal"].get(pe) != simdjson::SUCCESS) return 2;
    p.id = get(pe, "id");
    p.kind = get(pe, "kind");
    p.team = get(pe, "team");
    p.clearance = get(pe, "clearance");
    const warden::Model* m = config->catalog.find(get(doc, "model"));
    const std::string dep = get(doc, "deployment");
    const warden::Deployment* d = nullptr;
    for (const auto& x : m->deployments) {
      if (x.name == dep) d = &x;
    }
    std::vector<std::string> classes;
    simdjson::dom::array list;
    if (doc["classes"].get_array().get(list) == simdjson::SUCCESS) {
      for (auto c : list) classes.emplace_back(c.get_string().value());
    }
    warden::policy::Device device;
    warden::policy::Attributes a;
    a.principal = &p;
    a.device = &device;
    a.model = m;
    a.deployment = d;
    for (const auto& c : classes) a.classes.push_back(c);
    int64_t tokens = 0;
    if (doc["tokens"].get_int64().get(tokens) == simdjson::SUCCESS)
      a.request.estimated_tokens = static_cast<uint32_t>(tokens);
    bool stream = false;
    if (doc["stream"].get_bool().get(stream) == simdjson::SUCCESS) a.request.stream = stream;
    std::cout << (warden::policy::decide(*config->policy, a).permit ? "permit" : "deny") << "\n";
  }
  return 0;
}
