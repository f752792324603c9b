#include "config/config.h"

#include <yaml-cpp/yaml.h>

#include "policy/check.h"
#include "tokenizer/tokenizer.h"

#include <arpa/inet.h>
#include <openssl/err.h>
#include <openssl/x509_vfy.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstring>

#include <cstdlib>
#include <fstream>
#include <functional>
#include <set>
#include <sstream>

namespace warden {

std::string Diagnostic::str() const {
  return file + ":" + std::to_string(line) + ": " + message;
}

namespace {

std::string join_messages(const std::vector<Diagnostic>& diags) {
  std::string out;
  for (const auto& d : diags) out += d.str() + "\n";
  return out;
}

}  // namespace

ConfigError::ConfigError(std::vector<Diagnostic> diags)
    : std::runtime_error(join_messages(diags)), diags_(std::move(diags)) {}

namespace {

// Walks the YAML tree, collecting every problem with its line instead of stopping at the first.
class Reader {
 public:
  explicit Reader(std::string file) : file_(std::move(file)) {}

  // `at` may be a key that is not there (yaml-cpp's Mark() throws for it): then no line.
  void error(const YAML::Node& at, const std::string& message) {
    diags_.push_back({file_, at.IsDefined() ? at.Mark().line + 1 : 0, message});
  }
  void error_line(int line, const std::string& message) {
    diags_.push_back({file_, line, message});
  }
  std::vector<Diagnostic>& diags() { return diags_; }

  // Reports keys of `map` that are not in `known`.
  bool expect_map(const YAML::Node& node, const std::string& what,
                  std::initializer_list<const char*> known) {
    if (!node.IsMap()) {
      error(node, what + " must be a mapping");
      return false;
    }
    std::set<std::string> allowed(known.begin(), known.end());
    for (const auto& kv : node) {
      const std::string key = kv.first.Scalar();
      if (!allowed.count(key)) error(kv.first, "unknown key '" + key + "' in " + what);
    }
    return true;
  }

  // ${NAME} interpolation from the environment; an unset variable is an error.
  std::string interpolate(const YAML::Node& at, const std::string& s) {
    std::string out;
    size_t i = 0;
    while (i < s.size()) {
      if (s[i] == '$' && i + 1 < s.size() && s[i + 1] == '{') {
        const size_t end = s.find('}', i + 2);
        if (end == std::string::npos) {
          error(at, "unterminated ${ in value");
          return out;
        }
        const std::string name = s.substr(i + 2, end - i - 2);
        const char* value = std::getenv(name.c_str());
        if (value == nullptr) {
          error(at, "environment variable '" + name + "' is not set");
        } else {
          out += value;
        }
        i = end + 1;
      } else {
        out.push_back(s[i++]);
      }
    }
    return out;
  }

  bool str(const YAML::Node& map, const char* key, std::string& out, bool required = false) {
    const YAML::Node n = map[key];
    if (!n) {
      if (required) error(map, std::string("missing required key '") + key + "'");
      return false;
    }
    if (!n.IsScalar()) {
      error(n, std::string("'") + key + "' must be a string");
      return false;
    }
    out = interpolate(n, n.Scalar());
    if (required && out.empty()) error(n, std::string("'") + key + "' must not be empty");
    return true;
  }

  template <typename Int>
  void integer(const YAML::Node& map, const char* key, Int& out, int64_t min, int64_t max) {
    const YAML::Node n = map[key];
    if (!n) return;
    int64_t v = 0;
    if (!n.IsScalar() || !YAML::convert<int64_t>::decode(n, v)) {
      error(n, std::string("'") + key + "' must be an integer");
      return;
    }
    if (v < min || v > max) {
      error(n, std::string("'") + key + "' must be between " + std::to_string(min) + " and " +
                   std::to_string(max));
      return;
    }
    out = static_cast<Int>(v);
  }

  void number(const YAML::Node& map, const char* key, double& out) {
    const YAML::Node n = map[key];
    if (!n) return;
    double v = 0;
    if (!n.IsScalar() || !YAML::convert<double>::decode(n, v) || v < 0) {
      error(n, std::string("'") + key + "' must be a non-negative number");
      return;
    }
    out = v;
  }

  void boolean(const YAML::Node& map, const char* key, bool& out) {
    const YAML::Node n = map[key];
    if (!n) return;
    bool v = false;
    if (!n.IsScalar() || !YAML::convert<bool>::decode(n, v)) {
      error(n, std::string("'") + key + "' must be true or false");
      return;
    }
    out = v;
  }

 private:
  std::string file_;
  std::vector<Diagnostic> diags_;
};

void read_listener(Reader& r, const YAML::Node& n, ListenerConfig& out) {
  if (!n) return;
  std::string s;
  if (!n.IsScalar()) {
    r.error(n, "'listen' must be \"host:port\"");
    return;
  }
  s = n.Scalar();
  const size_t colon = s.rfind(':');
  if (colon == std::string::npos || colon + 1 == s.size()) {
    r.error(n, "'listen' must be \"host:port\"");
    return;
  }
  out.host = s.substr(0, colon);
  out.port = s.substr(colon + 1);
  if (out.host.size() > 2 && out.host.front() == '[')
    out.host = out.host.substr(1, out.host.size() - 2);
  for (char c : out.port) {
    if (c < '0' || c > '9') {
      r.error(n, "'listen' port must be a number");
      return;
    }
  }
}

// An IPv4 or IPv6 address in the form the listener prints a peer's address in.
bool canonical_address(const std::string& text, std::string& out) {
  unsigned char bytes[16];
  char buf[INET6_ADDRSTRLEN];
  for (int family : {AF_INET, AF_INET6}) {
    if (inet_pton(family, text.c_str(), bytes) == 1 &&
        inet_ntop(family, bytes, buf, sizeof buf) != nullptr) {
      out = buf;
      return true;
    }
  }
  return false;
}

// A path relative to the configuration file's directory.
std::string relative_to(const std::string& config_path, std::string path) {
  if (path.empty() || path.front() == '/') return path;
  const size_t slash = config_path.rfind('/');
  return slash == std::string::npos ? path : config_path.substr(0, slash + 1) + path;
}

void read_client_listener(Reader& r, const YAML::Node& n, const std::string& config_path,
                          ClientListener& out) {
  if (!r.expect_map(n, "listener", {"listen", "tls"})) return;
  if (!n["listen"]) r.error(n, "missing required key 'listen'");
  read_listener(r, n["listen"], out.address);
  const YAML::Node t = n["tls"];
  if (!t) {
    // Plain HTTP carries credentials in the clear: only where nothing lies between the client
    // and the gateway.
    if (n["listen"] && !identity::is_loopback_host(out.address.host))
      r.error(n["listen"],
              "a listener without 'tls' must be on a loopback address (127.0.0.1, "
              "::1 or localhost)");
    return;
  }
  if (!r.expect_map(t, "tls",
                    {"cert_file", "key_file", "client_ca_file", "crl_file", "client_certs"}))
    return;
  identity::TlsSettings& ts = out.tls_settings;
  const bool has_cert = r.str(t, "cert_file", ts.cert_file, true);
  const bool has_key = r.str(t, "key_file", ts.key_file, true);
  if (!has_cert || !has_key) return;
  ts.cert_file = relative_to(config_path, ts.cert_file);
  ts.key_file = relative_to(config_path, ts.key_file);
  if (r.str(t, "client_ca_file", ts.client_ca_file))
    ts.client_ca_file = relative_to(config_path, ts.client_ca_file);
  if (r.str(t, "crl_file", ts.crl_file)) ts.crl_file = relative_to(config_path, ts.crl_file);
  std::string client_certs = "optional";
  if (r.str(t, "client_certs", client_certs)) {
    if (ts.client_ca_file.empty())
      r.error(t["client_certs"], "'client_certs' needs 'client_ca_file'");
    if (client_certs != "optional" && client_certs != "required")
      r.error(t["client_certs"], "'client_certs' must be optional or required");
  }
  ts.require_client_cert = client_certs == "required";
  std::string problem;
  out.tls = identity::ServerTls::load(out.tls_settings, problem);
  if (!out.tls) r.error(t, problem);
}

void read_listeners(Reader& r, const YAML::Node& n, const std::string& config_path,
                    ServerConfig& s) {
  const YAML::Node one = n["listen"];
  const YAML::Node list = n["listeners"];
  if (one && list) {
    r.error(list, "'listen' and 'listeners' are exclusive: list every listener in 'listeners'");
    return;
  }
  if (one) {
    s.listeners.assign(1, ClientListener{});
    read_listener(r, one, s.listeners[0].address);
    if (!identity::is_loopback_host(s.listeners[0].address.host))
      r.error(one,
              "plain HTTP ('listen') only on a loopback address (127.0.0.1, ::1 or "
              "localhost); elsewhere use 'listeners' with 'tls'");
    return;
  }
  if (!list) return;
  if (!list.IsSequence() || list.size() == 0) {
    r.error(list, "'listeners' must be a non-empty list");
    return;
  }
  s.listeners.clear();
  std::set<std::string> seen;
  for (const YAML::Node& ln : list) {
    ClientListener l;
    read_client_listener(r, ln, config_path, l);
    if (!seen.insert(l.address.host + ":" + l.address.port).second)
      r.error(ln, "listener " + l.address.host + ":" + l.address.port + " is listed twice");
    s.listeners.push_back(std::move(l));
  }
}

void read_server(Reader& r, const YAML::Node& n, const std::string& config_path, ServerConfig& s) {
  if (!n) return;
  if (!r.expect_map(n, "server",
                    {"listen", "listeners", "workers", "max_header_bytes", "max_body_bytes",
                     "header_timeout_ms", "body_timeout_ms", "idle_timeout_ms",
                     "first_byte_timeout_ms", "max_connections", "max_connections_per_address",
                     "trusted_proxies", "shutdown_grace_ms", "max_upstream_body_bytes"}))
    return;
  read_listeners(r, n, config_path, s);
  r.integer(n, "workers", s.workers, 0, 256);
  r.integer(n, "max_header_bytes", s.max_header_bytes, 1024, 1 << 20);
  r.integer(n, "max_body_bytes", s.max_body_bytes, 1024, int64_t{1} << 30);
  r.integer(n, "header_timeout_ms", s.header_timeout_ms, 100, 3'600'000);
  r.integer(n, "body_timeout_ms", s.body_timeout_ms, 100, 3'600'000);
  r.integer(n, "idle_timeout_ms", s.idle_timeout_ms, 100, 3'600'000);
  r.integer(n, "first_byte_timeout_ms", s.first_byte_timeout_ms, 100, 3'600'000);
  r.integer(n, "max_connections", s.max_connections, 1, 10'000'000);
  r.integer(n, "max_connections_per_address", s.max_connections_per_address, 0, 10'000'000);
  if (const YAML::Node proxies = n["trusted_proxies"]) {
    if (!proxies.IsSequence()) {
      r.error(proxies, "'trusted_proxies' must be a list of IP addresses");
    } else {
      for (const YAML::Node& a : proxies) {
        std::string canonical;
        if (!a.IsScalar() || !canonical_address(a.Scalar(), canonical)) {
          r.error(a, "'trusted_proxies' entries must be IP addresses (no names, no ranges)");
          continue;
        }
        s.trusted_proxies.push_back(std::move(canonical));
      }
    }
  }
  r.integer(n, "shutdown_grace_ms", s.shutdown_grace_ms, 0, 3'600'000);
  r.integer(n, "max_upstream_body_bytes", s.max_upstream_body_bytes, 1024, int64_t{1} << 32);
}

// Why a CA bundle cannot serve as trust anchors (empty when it can): checked at load, so that
// a typo is reported by `warden check` rather than failing every TLS connection later.
std::string ca_file_problem(const std::string& path) {
  FILE* f = std::fopen(path.c_str(), "r");
  if (f == nullptr) return "cannot be read: " + std::string(std::strerror(errno));
  std::fclose(f);
  X509_STORE* store = X509_STORE_new();
  const bool loaded = store != nullptr && X509_STORE_load_file(store, path.c_str()) == 1;
  const size_t certificates =
      loaded ? static_cast<size_t>(sk_X509_OBJECT_num(X509_STORE_get0_objects(store))) : 0;
  X509_STORE_free(store);
  ERR_clear_error();
  if (certificates == 0) return "holds no PEM certificate";
  return {};
}

// base_url: scheme://host[:port][/path]
bool parse_base_url(Reader& r, const YAML::Node& at, const std::string& url, Provider& p) {
  std::string rest;
  if (url.rfind("http://", 0) == 0) {
    p.tls = false;
    rest = url.substr(7);
  } else if (url.rfind("https://", 0) == 0) {
    p.tls = true;
    rest = url.substr(8);
  } else {
    r.error(at, "'base_url' must start with http:// or https://");
    return false;
  }
  const size_t slash = rest.find('/');
  std::string hostport = rest.substr(0, slash);
  p.base_path = slash == std::string::npos ? "" : rest.substr(slash);
  while (!p.base_path.empty() && p.base_path.back() == '/') p.base_path.pop_back();
  std::string host = hostport;
  std::string port = p.tls ? "443" : "80";
  if (!hostport.empty() && hostport.front() == '[') {
    const size_t close = hostport.find(']');
    if (close == std::string::npos) {
      r.error(at, "'base_url' has an unterminated IPv6 address");
      return false;
    }
    host = hostport.substr(1, close - 1);
    if (close + 1 < hostport.size() && hostport[close + 1] == ':')
      port = hostport.substr(close + 2);
  } else if (const size_t colon = hostport.rfind(':'); colon != std::string::npos) {
    host = hostport.substr(0, colon);
    port = hostport.substr(colon + 1);
  }
  if (host.empty()) {
    r.error(at, "'base_url' has no host");
    return false;
  }
  if (port.empty() || port.find_first_not_of("0123456789") != std::string::npos ||
      port.size() > 5 || std::stoul(port) > 65535) {
    r.error(at, "'base_url' has an invalid port");
    return false;
  }
  p.host = host;
  p.port = port;
  return true;
}

void read_providers(Reader& r, const YAML::Node& n, Catalog& catalog) {
  if (!n) {
    r.error_line(1, "missing required section 'providers'");
    return;
  }
  if (!n.IsSequence()) {
    r.error(n, "'providers' must be a list");
    return;
  }
  std::set<std::string> names;
  for (const YAML::Node& pn : n) {
    if (!r.expect_map(pn, "provider",
                      {"name", "kind", "base_url", "api_key_env", "api_version", "timeouts",
                       "retries", "backoff_ms", "max_idle_connections", "tls"}))
      continue;
    auto p = std::make_unique<Provider>();
    r.str(pn, "name", p->name, true);
    if (!p->name.empty() && !names.insert(p->name).second)
      r.error(pn["name"], "duplicate provider '" + p->name + "'");
    std::string kind = "openai";
    r.str(pn, "kind", kind);
    if (kind == "openai") {
      p->kind = ProviderKind::kOpenAI;
    } else if (kind == "azure") {
      p->kind = ProviderKind::kAzure;
    } else if (kind == "anthropic") {
      p->kind = ProviderKind::kAnthropic;
    } else {
      r.error(pn["kind"],
              "unknown provider kind '" + kind + "' (expected openai, azure or anthropic)");
    }
    std::string url;
    if (r.str(pn, "base_url", url, true)) parse_base_url(r, pn["base_url"], url, *p);
    if (r.str(pn, "api_key_env", p->api_key_env)) {
      const char* v = std::getenv(p->api_key_env.c_str());
      if (v == nullptr || *v == '\0') {
        r.error(pn["api_key_env"],
                "environment variable '" + p->api_key_env + "' (provider credential) is not set");
      } else {
        p->api_key = v;
      }
    }
    r.str(pn, "api_version", p->api_version);
    if (p->kind == ProviderKind::kAzure && p->api_version.empty())
      r.error(pn, "azure provider '" + p->name + "' needs 'api_version'");
    if (const YAML::Node t = pn["timeouts"]) {
      if (r.expect_map(t, "timeouts", {"connect_ms", "first_byte_ms", "idle_ms", "total_ms"})) {
        r.integer(t, "connect_ms", p->timeouts.connect_ms, 1, 3'600'000);
        r.integer(t, "first_byte_ms", p->timeouts.first_byte_ms, 1, 3'600'000);
        r.integer(t, "idle_ms", p->timeouts.idle_ms, 1, 3'600'000);
        r.integer(t, "total_ms", p->timeouts.total_ms, 1, 86'400'000);
      }
    }
    r.integer(pn, "retries", p->retries, 0, 10);
    r.integer(pn, "backoff_ms", p->backoff_ms, 0, 60'000);
    r.integer(pn, "max_idle_connections", p->max_idle, 0, 100'000);
    if (const YAML::Node t = pn["tls"]) {
      if (r.expect_map(t, "tls", {"verify", "ca_file"})) {
        r.boolean(t, "verify", p->tls_verify);
        if (r.str(t, "ca_file", p->ca_file) && !p->ca_file.empty()) {
          const std::string problem = ca_file_problem(p->ca_file);
          if (!problem.empty()) r.error(t["ca_file"], "'ca_file' " + problem);
        }
      }
    }
    catalog.providers.push_back(std::move(p));
  }
}

void read_models(Reader& r, const YAML::Node& n, Catalog& catalog) {
  if (!n) {
    r.error_line(1, "missing required section 'models'");
    return;
  }
  if (!n.IsSequence()) {
    r.error(n, "'models' must be a list");
    return;
  }
  std::set<std::string> model_names;
  std::set<std::string> deployment_names;
  for (const YAML::Node& mn : n) {
    if (!r.expect_map(mn, "model",
                      {"name", "developer", "origin", "open_weights", "license", "kinds",
                       "tokenizer", "deployments"}))
      continue;
    Model m;
    r.str(mn, "name", m.name, true);
    if (!m.name.empty() && !model_names.insert(m.name).second)
      r.error(mn["name"], "duplicate model '" + m.name + "'");
    r.str(mn, "developer", m.developer, true);
    r.str(mn, "origin", m.origin, true);
    r.boolean(mn, "open_weights", m.open_weights);
    r.str(mn, "license", m.license);
    if (std::string name; r.str(mn, "tokenizer", name)) {
      m.tokenizer = tokenizer::find(name);
      if (m.tokenizer == nullptr)
        r.error(mn["tokenizer"],
                "unknown tokenizer '" + name + "' (expected o200k_base or cl100k_base)");
    }
    if (const YAML::Node k = mn["kinds"]) {
      constexpr std::string_view kKinds = "chat, completion, embedding, messages or responses";
      if (!k.IsSequence()) r.error(k, "'kinds' must be a list of " + std::string(kKinds));
      for (const YAML::Node& kn : k) {
        const std::string s = kn.IsScalar() ? kn.Scalar() : "";
        CallKind kind = CallKind::kChat;
        // count_tokens is served wherever messages is: not a kind of its own here.
        if (call_kind_from_name(s, kind) && kind != CallKind::kCountTokens)
          m.kinds.push_back(kind);
        else
          r.error(kn, "unknown kind '" + s + "' (expected " + std::string(kKinds) + ")");
      }
    } else {
      m.kinds = {CallKind::kChat, CallKind::kCompletion};
    }
    const YAML::Node dn = mn["deployments"];
    if (!dn || !dn.IsSequence() || dn.size() == 0) {
      r.error(dn ? dn : mn, "model '" + m.name + "' needs a non-empty list 'deployments'");
    } else {
      for (const YAML::Node& d : dn) {
        if (!r.expect_map(d, "deployment",
                          {"name", "provider", "upstream_model", "operator", "jurisdiction",
                           "region", "retention_days", "trains_on_inputs", "price", "hardware",
                           "energy", "grid_region"}))
          continue;
        Deployment dep;
        r.str(d, "name", dep.name, true);
        if (!dep.name.empty() && !deployment_names.insert(dep.name).second)
          r.error(d["name"], "duplicate deployment '" + dep.name + "'");
        std::string provider;
        if (r.str(d, "provider", provider, true)) {
          dep.provider = catalog.find_provider(provider);
          if (dep.provider == nullptr)
            r.error(d["provider"], "unknown provider '" + provider + "'");
        }
        dep.upstream_model = m.name;
        r.str(d, "upstream_model", dep.upstream_model);
        r.str(d, "operator", dep.operator_name, true);
        r.str(d, "jurisdiction", dep.jurisdiction, true);
        r.str(d, "region", dep.region, true);
        r.integer(d, "retention_days", dep.retention_days, 0, 36'500);
        r.boolean(d, "trains_on_inputs", dep.trains_on_inputs);
        if (const YAML::Node pr = d["price"]) {
          if (r.expect_map(pr, "price", {"input_per_mtok", "output_per_mtok"})) {
            r.number(pr, "input_per_mtok", dep.price.input_per_mtok);
            r.number(pr, "output_per_mtok", dep.price.output_per_mtok);
          }
        }
        r.str(d, "hardware", dep.hardware);
        r.str(d, "grid_region", dep.grid_region);
        if (const YAML::Node en = d["energy"]) {
          if (r.expect_map(en, "energy", {"wh_per_mtok_in", "wh_per_mtok_out"})) {
            dep.has_energy = true;
            r.number(en, "wh_per_mtok_in", dep.energy.wh_per_mtok_in);
            r.number(en, "wh_per_mtok_out", dep.energy.wh_per_mtok_out);
          }
        }
        m.deployments.push_back(std::move(dep));
      }
    }
    catalog.models.push_back(std::move(m));
  }
}

void read_inspect(Reader& r, const YAML::Node& n, InspectConfig& out) {
  std::vector<std::pair<YAML::Node, std::string>> action_nodes;
  if (n) {
    if (!r.expect_map(n, "inspect", {"enabled", "hold_back_bytes", "actions", "custom"})) return;
    r.boolean(n, "enabled", out.enabled);
    r.integer(n, "hold_back_bytes", out.hold_back_bytes, 16, 65536);
    if (const YAML::Node c = n["custom"]) {
      if (!c.IsSequence()) r.error(c, "'custom' must be a list");
      std::set<std::string> names;
      for (const YAML::Node& cn : c) {
        if (!r.expect_map(cn, "custom detector", {"name", "regex", "words"})) continue;
        inspect::CustomDetector d;
        r.str(cn, "name", d.name, true);
        if (d.name.find_first_not_of("abcdefghijklmnopqrstuvwxyz0123456789_") != std::string::npos)
          r.error(cn["name"], "custom detector names use a-z, 0-9 and _");
        if (!d.name.empty() && !names.insert(d.name).second)
          r.error(cn["name"], "duplicate custom detector '" + d.name + "'");
        for (const char* key : {"regex", "words"}) {
          const YAML::Node list = cn[key];
          if (!list) continue;
          std::vector<std::string>& into = std::string(key) == "regex" ? d.regexes : d.words;
          if (list.IsScalar()) {
            into.push_back(list.Scalar());
          } else if (list.IsSequence()) {
            for (const YAML::Node& item : list) {
              if (!item.IsScalar() || item.Scalar().empty())
                r.error(item, std::string("'") + key + "' entries must be non-empty strings");
              else
                into.push_back(item.Scalar());
            }
          } else {
            r.error(list, std::string("'") + key + "' must be a string or a list of strings");
          }
        }
        if (d.regexes.empty() && d.words.empty())
          r.error(cn, "custom detector needs 'regex' or 'words'");
        // Each pattern is compiled alone first, so that an error names its line.
        for (const std::string& re : d.regexes) {
          const std::string problem = inspect::pattern_error(re);
          if (!problem.empty()) r.error(cn["regex"], "invalid regex '" + re + "': " + problem);
        }
        out.custom.push_back(std::move(d));
      }
    }
    if (const YAML::Node a = n["actions"]) {
      if (!a.IsMap()) {
        r.error(a, "'actions' must map a class (or prefix) to block, mask, pseudonymise or allow");
      } else {
        for (const auto& kv : a) action_nodes.emplace_back(kv.first, kv.first.Scalar());
      }
    }
  }
  if (!out.enabled) return;
  try {
    out.engine = inspect::Engine::compile(out.custom);
  } catch (const std::exception& e) {
    r.error(n ? n : YAML::Node(), std::string("detectors do not compile: ") + e.what());
    return;
  }
  for (const auto& [key_node, prefix] : action_nodes) {
    const YAML::Node v = n["actions"][prefix];
    const std::string value = v.IsScalar() ? v.Scalar() : "";
    inspect::Action action;
    if (value == "block")
      action = inspect::Action::kBlock;
    else if (value == "mask")
      action = inspect::Action::kMask;
    else if (value == "pseudonymise" || value == "pseudonymize")
      action = inspect::Action::kPseudonymise;
    else if (value == "allow")
      action = inspect::Action::kAllow;
    else {
      r.error(v, "action for '" + prefix + "' must be block, mask, pseudonymise or allow");
      continue;
    }
    bool known = false;
    for (const std::string& cls : out.engine->classes())
      known = known || inspect::class_matches(cls, prefix);
    if (!known) {
      r.error(key_node, "unknown data class '" + prefix + "'");
      continue;
    }
    out.actions.set(prefix, action);
  }
}

void read_policy(Reader& r, const YAML::Node& n, Config& config) {
  auto p = std::make_shared<policy::Policy>();
  if (!n) {
    config.warnings.push_back(config.path + ":1: no 'policy' section: every request is denied");
  } else if (r.expect_map(n, "policy", {"rules"})) {
    const YAML::Node rules = n["rules"];
    if (rules && !rules.IsSequence()) r.error(rules, "'rules' must be a list");
    std::set<std::string> ids;
    for (const YAML::Node& rn : rules) {
      if (!r.expect_map(rn, "rule", {"id", "effect", "when", "action", "classes", "description"}))
        continue;
      policy::Rule rule;
      rule.line = rn.Mark().line + 1;
      r.str(rn, "id", rule.id, true);
      if (!rule.id.empty() && !ids.insert(rule.id).second)
        r.error(rn["id"], "duplicate rule id '" + rule.id + "'");
      std::string effect;
      r.str(rn, "effect", effect, true);
      if (effect == "permit")
        rule.effect = policy::Effect::kPermit;
      else if (effect == "forbid")
        rule.effect = policy::Effect::kForbid;
      else if (effect == "transform")
        rule.effect = policy::Effect::kTransform;
      else if (effect == "output")
        rule.effect = policy::Effect::kOutput;
      else if (!effect.empty())
        r.error(rn["effect"], "effect must be permit, forbid, transform or output");
      std::string action;
      r.str(rn, "action", action);
      if (rule.effect == policy::Effect::kTransform) {
        if (action == "mask")
          rule.action = inspect::Action::kMask;
        else if (action == "pseudonymise" || action == "pseudonymize")
          rule.action = inspect::Action::kPseudonymise;
        else
          r.error(rn["action"] ? rn["action"] : rn,
                  "a transform rule needs 'action: mask' or 'action: pseudonymise'");
      } else if (rule.effect == policy::Effect::kOutput) {
        if (action == "end")
          rule.end_stream = true;
        else if (action != "mask")
          r.error(rn["action"] ? rn["action"] : rn,
                  "an output rule needs 'action: mask' or 'action: end'");
      } else if (!action.empty()) {
        r.error(rn["action"], "'action' belongs to transform and output rules");
      }
      if (const YAML::Node cl = rn["classes"]) {
        if (!cl.IsSequence()) r.error(cl, "'classes' must be a list");
        for (const YAML::Node& c : cl) rule.classes.push_back(c.Scalar());
      }
      if ((rule.effect == policy::Effect::kTransform || rule.effect == policy::Effect::kOutput) &&
          rule.classes.empty())
        r.error(rn, "rule '" + rule.id + "' needs 'classes'");
      if (const YAML::Node when = rn["when"]) {
        if (!when.IsSequence()) r.error(when, "'when' must be a list of conditions");
        for (const YAML::Node& cn : when) {
          if (!r.expect_map(cn, "condition", {"attr", "op", "values", "value"})) continue;
          policy::Condition c;
          c.line = cn.Mark().line + 1;
          std::string attr, op;
          r.str(cn, "attr", attr, true);
          r.str(cn, "op", op, true);
          if (attr.empty() || op.empty()) continue;  // reported by str()
          if (!attr.empty() && !policy::parse_attr(attr, c.attr, c.label)) {
            r.error(cn["attr"], "unknown attribute '" + attr + "'");
            continue;
          }
          if (!op.empty() && !policy::parse_op(op, c.op)) {
            r.error(cn["op"],
                    "unknown operator '" + op + "' (in, not_in, any, all, none, lt, gt, exists)");
            continue;
          }
          const policy::AttrType type = policy::attr_type(c.attr);
          const bool set_op =
              c.op == policy::Op::kAny || c.op == policy::Op::kAll || c.op == policy::Op::kNone;
          const bool num_op = c.op == policy::Op::kLt || c.op == policy::Op::kGt;
          if (num_op && type != policy::AttrType::kNumber) {
            r.error(cn["op"], "'" + op + "' needs a numeric attribute; '" + attr + "' is not");
            continue;
          }
          if (set_op && type != policy::AttrType::kSet) {
            r.error(cn["op"], "'" + op +
                                  "' needs a set attribute (data.classes, principal.groups, "
                                  "auth.methods); use in / not_in");
            continue;
          }
          const YAML::Node values = cn["values"] ? cn["values"] : cn["value"];
          if (c.op != policy::Op::kExists) {
            if (!values) {
              r.error(cn, "condition needs 'values'");
              continue;
            }
            if (values.IsScalar())
              c.values.push_back(values.Scalar());
            else if (values.IsSequence())
              for (const YAML::Node& v : values) c.values.push_back(v.Scalar());
            else
              r.error(values, "'values' must be a list");
            if (num_op) {
              if (c.values.size() != 1 ||
                  !YAML::convert<double>::decode(values.IsScalar() ? values : values[0], c.number))
                r.error(values, "'" + op + "' needs one number");
            }
          }
          std::sort(c.values.begin(), c.values.end());
          rule.when.push_back(std::move(c));
        }
      }
      p->rules.push_back(std::move(rule));
    }
  }
  p->build_index();
  std::vector<std::string> classes = inspect::uninspectable_classes();
  if (config.inspect.engine) {
    classes.insert(classes.end(), config.inspect.engine->classes().begin(),
                   config.inspect.engine->classes().end());
  }
  // Precedence (policy/plan.h): where a configured action and a rule name the same classes, the
  // stricter applies. Said at load, so nobody expects the other.
  for (const policy::Rule& rule : p->rules) {
    if (rule.effect != policy::Effect::kTransform && rule.effect != policy::Effect::kOutput)
      continue;
    const inspect::Action ra = rule.effect == policy::Effect::kTransform ? rule.action
                               : rule.end_stream                         ? inspect::Action::kBlock
                                                                         : inspect::Action::kMask;
    for (const std::string& cls : rule.classes) {
      for (const auto& ca : config.inspect.actions.rules()) {
        if (ca.action == ra ||
            !(inspect::class_matches(cls, ca.prefix) || inspect::class_matches(ca.prefix, cls)))
          continue;
        const inspect::Action wins =
            inspect::strictness(ca.action) > inspect::strictness(ra) ? ca.action : ra;
        config.warnings.push_back(
            config.path + ":" + std::to_string(rule.line) + ": warning: rule '" + rule.id + "' (" +
            std::string(inspect::action_name(ra)) + " " + cls + ") and inspect.actions '" +
            ca.prefix + ": " + std::string(inspect::action_name(ca.action)) +
            "' overlap: the stricter, " + std::string(inspect::action_name(wins)) + ", applies");
      }
    }
  }
  for (const policy::Problem& pr : policy::check(*p, config.catalog, classes)) {
    if (pr.warning)
      config.warnings.push_back(config.path + ":" + std::to_string(pr.line) +
                                ": warning: " + pr.message);
    else
      r.error_line(pr.line, pr.message);
  }
  config.policy = std::move(p);
}

std::string beside_config(const Config& config, const std::string& file) {
  if (file.empty() || file.front() == '/') return file;
  const size_t slash = config.path.rfind('/');
  return slash == std::string::npos ? file : config.path.substr(0, slash + 1) + file;
}

void read_checkpoints(Reader& r, const YAML::Node& n, Config& config) {
  auto& c = config.audit.checkpoints;
  if (!n || !r.expect_map(n, "checkpoints",
                          {"key_file", "previous_key_file", "every_records", "every_seconds", "log",
                           "witnesses", "witness_timeout_ms"}))
    return;
  r.str(n, "key_file", c.key_file, true);
  r.str(n, "previous_key_file", c.previous_key_file);
  c.key_file = beside_config(config, c.key_file);
  c.previous_key_file = beside_config(config, c.previous_key_file);
  r.integer(n, "every_records", c.every_records, 1, 100'000'000);
  uint32_t seconds = c.every_ms / 1000;
  r.integer(n, "every_seconds", seconds, 1, 86'400);
  c.every_ms = seconds * 1000;
  r.boolean(n, "log", c.log);
  r.integer(n, "witness_timeout_ms", c.witness_timeout_ms, 10, 600'000);
  if (const YAML::Node w = n["witnesses"]) {
    if (!w.IsSequence()) {
      r.error(w, "'witnesses' must be a list of http:// URLs");
      return;
    }
    for (const YAML::Node& u : w) {
      const std::string url = u.as<std::string>("");
      if (url.rfind("http://", 0) != 0 || url.size() <= 7)
        r.error(u, "a witness is an http://host:port/path URL");
      c.witnesses.push_back(url);
    }
  }
}

void read_audit(Reader& r, const YAML::Node& n, Config& config) {
  AuditConfig& a = config.audit;
  if (n && r.expect_map(n, "audit",
                        {"enabled", "path", "postgres", "durability", "instance", "max_buffer",
                         "checkpoints"})) {
    r.boolean(n, "enabled", a.enabled);
    r.str(n, "path", a.path);
    r.str(n, "postgres", a.postgres);
    if (!a.path.empty() && !a.postgres.empty())
      r.error(n["postgres"], "give 'path' (SQLite) or 'postgres', not both");
    std::string durability = "batched";
    r.str(n, "durability", durability);
    if (durability == "strict")
      a.strict = true;
    else if (durability != "batched")
      r.error(n["durability"], "durability must be batched or strict");
    r.str(n, "instance", a.instance);
    r.integer(n, "max_buffer", a.max_buffer, 1, 100'000'000);
    read_checkpoints(r, n["checkpoints"], config);
  }
  if (a.path.empty()) {
    const size_t slash = config.path.rfind('/');
    a.path = (slash == std::string::npos ? std::string() : config.path.substr(0, slash + 1)) +
             "warden-audit.db";
  } else if (a.path.front() != '/') {
    const size_t slash = config.path.rfind('/');
    if (slash != std::string::npos) a.path = config.path.substr(0, slash + 1) + a.path;
  }
  if (a.instance.empty()) {
    char host[256] = {0};
    a.instance = gethostname(host, sizeof host - 1) == 0 && host[0] ? host : "warden";
  }
}

void read_keys(Reader& r, const YAML::Node& n, KeyStore& keys) {
  if (!n) return;
  if (!n.IsSequence()) {
    r.error(n, "'keys' must be a list");
    return;
  }
  std::set<std::string> digests;
  for (const YAML::Node& kn : n) {
    if (!r.expect_map(kn, "key", {"sha256", "principal"})) continue;
    std::string hex;
    KeyDigest digest{};
    if (r.str(kn, "sha256", hex, true)) {
      if (!parse_hex_digest(hex, digest)) {
        r.error(kn["sha256"], "'sha256' must be 64 hex digits (see 'warden keys hash')");
      } else if (!digests.insert(hex).second) {
        r.error(kn["sha256"], "duplicate key digest");
      }
    }
    Principal p;
    const YAML::Node pn = kn["principal"];
    if (!pn) {
      r.error(kn, "missing required key 'principal'");
    } else if (r.expect_map(pn, "principal", {"id", "kind", "team", "clearance", "labels"})) {
      r.str(pn, "id", p.id, true);
      r.str(pn, "kind", p.kind);
      if (p.kind != "person" && p.kind != "service" && p.kind != "device")
        r.error(pn["kind"], "principal kind must be person, service or device");
      r.str(pn, "team", p.team);
      r.str(pn, "clearance", p.clearance);
      if (const YAML::Node l = pn["labels"]) {
        if (!l.IsMap()) {
          r.error(l, "'labels' must be a mapping of strings");
        } else {
          for (const auto& kv : l) {
            if (!kv.second.IsScalar()) {
              r.error(kv.second, "label values must be strings");
              continue;
            }
            p.labels[kv.first.Scalar()] = kv.second.Scalar();
          }
        }
      }
    }
    keys.add(digest, std::move(p));
  }
}

// `limits:` — settings, then rules, each with one measure and a key (docs/CONFIGURATION.md).
void read_limit_key(Reader& r, const YAML::Node& n, limits::Rule& rule) {
  if (!n) return;
  std::vector<YAML::Node> parts;
  if (n.IsScalar()) {
    parts.push_back(n);
  } else if (n.IsSequence()) {
    for (const YAML::Node& p : n) parts.push_back(p);
  } else {
    r.error(n, "'key' must be a name or a list of names");
    return;
  }
  std::set<std::string> seen;
  for (const YAML::Node& p : parts) {
    const std::string s = p.IsScalar() ? p.Scalar() : "";
    limits::KeyField f;
    if (s == "principal") {
      f.part = limits::KeyPart::principal;
    } else if (s == "team") {
      f.part = limits::KeyPart::team;
    } else if (s == "model") {
      f.part = limits::KeyPart::model;
    } else if (s == "deployment") {
      f.part = limits::KeyPart::deployment;
      rule.by_deployment = true;
    } else if (s.rfind("label:", 0) == 0 && s.size() > 6) {
      f.part = limits::KeyPart::label;
      f.label = s.substr(6);
    } else {
      r.error(p, "unknown limit key '" + s +
                     "' (expected principal, team, label:NAME, model or deployment)");
      continue;
    }
    if (!seen.insert(s).second) r.error(p, "limit key '" + s + "' appears twice");
    rule.key.push_back(std::move(f));
  }
}

// host:port, as `redis` and the sentinels are written.
bool host_port(std::string_view s) {
  const size_t colon = s.rfind(':');
  int64_t port = 0;
  return colon != std::string::npos && colon != 0 &&
         YAML::convert<int64_t>::decode(YAML::Node(std::string(s.substr(colon + 1))), port) &&
         port >= 1 && port <= 65535;
}

void read_limits(Reader& r, const YAML::Node& n, limits::Settings& out) {
  if (!n) return;
  if (!r.expect_map(n, "limits",
                    {"default_max_tokens", "lease_seconds", "rules", "redis", "redis_sentinel",
                     "redis_timeout_ms"}))
    return;
  if (r.str(n, "redis", out.redis) && !host_port(out.redis))
    r.error(n["redis"], "'redis' must be host:port");
  if (const YAML::Node sn = n["redis_sentinel"]) {
    if (!out.redis.empty()) r.error(sn, "'redis' and 'redis_sentinel' exclude each other");
    if (r.expect_map(sn, "redis_sentinel", {"master", "sentinels"})) {
      r.str(sn, "master", out.sentinel_master, true);
      const YAML::Node list = sn["sentinels"];
      if (!list || !list.IsSequence() || list.size() == 0)
        r.error(list ? list : sn, "'sentinels' must be a list of host:port");
      else
        for (const YAML::Node& a : list) {
          if (!a.IsScalar() || !host_port(a.Scalar()))
            r.error(a, "a sentinel must be host:port");
          else
            out.sentinels.push_back(a.Scalar());
        }
    }
  }
  r.integer(n, "redis_timeout_ms", out.redis_timeout_ms, 1, 60'000);
  r.integer(n, "default_max_tokens", out.default_max_tokens, 1, 10'000'000);
  int64_t lease_seconds = out.lease / 1'000'000;
  r.integer(n, "lease_seconds", lease_seconds, 1, 86'400);
  out.lease = lease_seconds * 1'000'000;
  const YAML::Node rules = n["rules"];
  if (!rules) return;
  if (!rules.IsSequence()) {
    r.error(rules, "'rules' must be a list");
    return;
  }
  // The measures a rule may name: what it counts, per what window.
  // Spend and energy are written in whole units (12.5 EUR, 400 Wh) and counted in millionths.
  struct MeasureKey {
    const char* key;
    limits::Measure measure;
    limits::Kind kind;
    limits::Micros window;
    const char* per;
    bool fractional = false;
    bool month = false;
  };
  constexpr limits::Micros kSecond = 1'000'000;
  constexpr limits::Micros kDay = 86'400 * kSecond;
  static const MeasureKey kMeasures[] = {
      {"requests_per_second", limits::Measure::requests, limits::Kind::rate, kSecond, "second"},
      {"requests_per_minute", limits::Measure::requests, limits::Kind::rate, 60 * kSecond,
       "minute"},
      {"tokens_per_minute", limits::Measure::tokens, limits::Kind::rate, 60 * kSecond, "minute"},
      {"tokens_per_day", limits::Measure::tokens, limits::Kind::budget, kDay, "day"},
      {"concurrent_streams", limits::Measure::streams, limits::Kind::concurrency, 0, ""},
      {"spend_per_day", limits::Measure::spend, limits::Kind::budget, kDay, "day", true},
      {"spend_per_month", limits::Measure::spend, limits::Kind::budget, limits::kLongestMonth,
       "month", true, true},
      {"energy_wh_per_day", limits::Measure::energy, limits::Kind::budget, kDay, "day", true},
      {"energy_wh_per_month", limits::Measure::energy, limits::Kind::budget, limits::kLongestMonth,
       "month", true, true},
  };
  std::set<std::string> names;
  for (const YAML::Node& rn : rules) {
    if (!r.expect_map(
            rn, "limit rule",
            {"name", "key", "requests_per_second", "requests_per_minute", "tokens_per_minute",
             "tokens_per_day", "concurrent_streams", "spend_per_day", "spend_per_month",
             "energy_wh_per_day", "energy_wh_per_month", "on_store_failure"}))
      continue;
    limits::Rule rule;
    r.str(rn, "name", rule.name, true);
    if (!rule.name.empty() && !names.insert(rule.name).second)
      r.error(rn["name"], "duplicate limit rule '" + rule.name + "'");
    if (rule.name.find_first_of("|=") != std::string::npos)
      r.error(rn["name"], "a limit rule's name may not contain '|' or '='");
    read_limit_key(r, rn["key"], rule);
    int found = 0;
    for (const MeasureKey& m : kMeasures) {
      if (!rn[m.key]) continue;
      ++found;
      rule.measure = m.measure;
      rule.spec.kind = m.kind;
      rule.spec.window = m.window;
      rule.per = m.per;
      rule.spec.month = m.month;
      if (m.fractional) {
        // At most 10^9 units: millionths of it stay exact in the doubles of Redis's scripts.
        double units = -1;
        r.number(rn, m.key, units);
        if (units <= 0 || units > 1e9)
          r.error(rn[m.key], std::string("'") + m.key + "' must be above 0 and at most 1e9");
        else
          rule.spec.amount = static_cast<int64_t>(std::llround(units * 1e6));
      } else {
        r.integer(rn, m.key, rule.spec.amount, 1, 1'000'000'000'000LL);
      }
    }
    if (found != 1) {
      r.error(rn, "limit rule '" + rule.name +
                      "' needs exactly one of requests_per_second, requests_per_minute, "
                      "tokens_per_minute, tokens_per_day, concurrent_streams, spend_per_day, "
                      "spend_per_month, energy_wh_per_day, energy_wh_per_month");
    }
    if (std::string f; r.str(rn, "on_store_failure", f)) {
      if (f == "fail_open") {
        rule.fail_open = true;
      } else if (f != "fail_closed") {
        r.error(rn["on_store_failure"], "'on_store_failure' must be fail_closed or fail_open");
      }
    }
    out.needs_usage = out.needs_usage || limits::counts_usage(rule.measure);
    out.counts_spend = out.counts_spend || rule.measure == limits::Measure::spend;
    out.counts_energy = out.counts_energy || rule.measure == limits::Measure::energy;
    out.by_deployment = out.by_deployment || rule.by_deployment;
    out.rules.push_back(std::move(rule));
  }
  if (out.rules.size() > 1000) r.error(rules, "at most 1000 limit rules");
  out.prepare();
}

// A string or a list of strings.
bool string_list(Reader& r, const YAML::Node& n, const char* what, std::vector<std::string>& out) {
  if (!n) return false;
  out.clear();
  if (n.IsScalar()) {
    out.push_back(n.Scalar());
    return true;
  }
  if (!n.IsSequence()) {
    r.error(n, std::string("'") + what + "' must be a string or a list of strings");
    return false;
  }
  for (const YAML::Node& v : n) {
    if (!v.IsScalar()) {
      r.error(v, std::string("'") + what + "' entries must be strings");
      continue;
    }
    out.push_back(v.Scalar());
  }
  return true;
}

uint8_t read_algorithms(Reader& r, const YAML::Node& a) {
  std::vector<std::string> names;
  string_list(r, a, "algorithms", names);
  uint8_t algs = 0;
  for (const std::string& name : names) {
    static constexpr std::pair<const char*, identity::JwsAlg> kAlgs[] = {
        {"RS256", identity::JwsAlg::kRS256},
        {"PS256", identity::JwsAlg::kPS256},
        {"ES256", identity::JwsAlg::kES256},
        {"EdDSA", identity::JwsAlg::kEdDSA}};
    bool known = false;
    for (const auto& [alg_name, alg] : kAlgs) {
      if (name == alg_name) {
        algs |= static_cast<uint8_t>(1u << static_cast<unsigned>(alg));
        known = true;
      }
    }
    if (!known) r.error(a, "algorithm '" + name + "' is not accepted (RS256, PS256, ES256, EdDSA)");
  }
  if (algs == 0) r.error(a, "'algorithms' must name at least one algorithm");
  return algs;
}

// A JWKS file read at load (a reload reads it again); null with an error when unusable.
identity::KeySetPtr read_jwks_file(Reader& r, const YAML::Node& at, const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  std::string problem;
  identity::KeySetPtr keys;
  if (!in) {
    r.error(at, "jwks_file '" + path + "' cannot be read");
  } else if (!(keys = identity::KeySet::parse(ss.str(), problem))) {
    r.error(at, "jwks_file '" + path + "': " + problem);
  }
  return keys;
}

// label name → the claim (or certificate attribute) it is read from.
void read_label_map(Reader& r, const YAML::Node& l, const std::string& what,
                    std::map<std::string, std::string>& out) {
  if (!l) return;
  if (!l.IsMap()) {
    r.error(l, "'" + what + "' must map label names to claim names");
    return;
  }
  for (const auto& kv : l) {
    if (!kv.second.IsScalar() || kv.second.Scalar().empty()) {
      r.error(kv.second, "'" + what + "' values must be claim names");
      continue;
    }
    out[kv.first.Scalar()] = kv.second.Scalar();
  }
}

void read_claims(Reader& r, const YAML::Node& n, identity::ClaimMapping& m) {
  if (!n) return;
  if (!r.expect_map(n, "claims",
                    {"id", "groups", "team", "clearance", "kind", "device_id", "labels"}))
    return;
  r.str(n, "id", m.id);
  if (m.id.empty()) r.error(n["id"], "'id' must name a claim");
  string_list(r, n["groups"], "groups", m.groups);
  r.str(n, "team", m.team);
  r.str(n, "clearance", m.clearance);
  r.str(n, "kind", m.kind);
  if (m.kind != "person" && m.kind != "service" && m.kind != "device")
    r.error(n["kind"], "principal kind must be person, service or device");
  r.str(n, "device_id", m.device_id);
  read_label_map(r, n["labels"], "labels", m.labels);
}

void read_issuer(Reader& r, const YAML::Node& n, const std::string& config_path,
                 identity::IssuerConfig& is) {
  if (!r.expect_map(n, "issuer",
                    {"issuer", "audiences", "jwks_file", "jwks_uri", "discovery", "ca_file",
                     "clock_skew_s", "refresh_interval_s", "min_refresh_interval_s",
                     "fetch_timeout_ms", "algorithms", "claims"}))
    return;
  r.str(n, "issuer", is.issuer, true);
  if (!string_list(r, n["audiences"], "audiences", is.audiences) || is.audiences.empty())
    r.error(n, "an issuer needs 'audiences': a token for another service must not pass");
  const bool file = r.str(n, "jwks_file", is.jwks_file);
  const bool uri = r.str(n, "jwks_uri", is.jwks_uri);
  r.boolean(n, "discovery", is.discovery);
  if (int(file) + int(uri) + int(is.discovery) != 1) {
    r.error(n, "an issuer needs exactly one of 'jwks_file', 'jwks_uri' or 'discovery: true'");
  }
  if (uri && !identity::key_url_allowed(is.jwks_uri))
    r.error(n["jwks_uri"], "'jwks_uri' must be https:// (http:// only to a loopback address)");
  if (is.discovery && !identity::key_url_allowed(is.issuer))
    r.error(n["issuer"],
            "with 'discovery', the issuer must be an https:// URL (http:// only "
            "to a loopback address)");
  if (r.str(n, "ca_file", is.ca_file)) {
    is.ca_file = relative_to(config_path, is.ca_file);
    if (const std::string problem = ca_file_problem(is.ca_file); !problem.empty())
      r.error(n["ca_file"], "ca_file '" + is.ca_file + "' " + problem);
  }
  r.integer(n, "clock_skew_s", is.clock_skew_s, 0, 600);
  r.integer(n, "refresh_interval_s", is.refresh_interval_s, 10, 86'400);
  r.integer(n, "min_refresh_interval_s", is.min_refresh_interval_s, 1, 3600);
  r.integer(n, "fetch_timeout_ms", is.fetch_timeout_ms, 100, 60'000);
  if (const YAML::Node a = n["algorithms"]) is.algs = read_algorithms(r, a);
  read_claims(r, n["claims"], is.claims);
  if (file) {
    is.jwks_file = relative_to(config_path, is.jwks_file);
    is.file_keys = read_jwks_file(r, n["jwks_file"], is.jwks_file);
  }
}

void read_device(Reader& r, const YAML::Node& n, Config& config) {
  if (!n) return;
  if (!r.expect_map(n, "device", {"posture", "forwarded_cert_from", "certificate_labels"})) return;
  identity::DeviceConfig& dc = config.device;
  if (const YAML::Node p = n["posture"]) {
    if (r.expect_map(
            p, "posture",
            {"jwks_file", "jwks_uri", "ca_file", "refresh_interval_s", "min_refresh_interval_s",
             "fetch_timeout_ms", "issuer", "max_age_s", "clock_skew_s", "algorithms", "labels"})) {
      identity::PostureConfig& pc = dc.posture;
      const bool file = r.str(p, "jwks_file", pc.jwks_file);
      const bool uri = r.str(p, "jwks_uri", pc.source.jwks_uri);
      if (int(file) + int(uri) != 1)
        r.error(p, "posture needs exactly one of 'jwks_file' or 'jwks_uri'");
      if (file) {
        pc.jwks_file = relative_to(config.path, pc.jwks_file);
        pc.keys = read_jwks_file(r, p["jwks_file"], pc.jwks_file);
      }
      if (uri && !identity::key_url_allowed(pc.source.jwks_uri))
        r.error(p["jwks_uri"], "'jwks_uri' must be https:// (http:// only to a loopback address)");
      // The issuers' fetcher keeps its keys apart by this name and the uri.
      pc.source.issuer = "posture";
      if (r.str(p, "ca_file", pc.source.ca_file)) {
        pc.source.ca_file = relative_to(config.path, pc.source.ca_file);
        if (const std::string problem = ca_file_problem(pc.source.ca_file); !problem.empty())
          r.error(p["ca_file"], "ca_file '" + pc.source.ca_file + "' " + problem);
      }
      r.integer(p, "refresh_interval_s", pc.source.refresh_interval_s, 10, 86'400);
      r.integer(p, "min_refresh_interval_s", pc.source.min_refresh_interval_s, 1, 3600);
      r.integer(p, "fetch_timeout_ms", pc.source.fetch_timeout_ms, 100, 60'000);
      r.str(p, "issuer", pc.issuer);
      r.integer(p, "max_age_s", pc.max_age_s, 1, 86'400);
      r.integer(p, "clock_skew_s", pc.clock_skew_s, 0, 600);
      if (const YAML::Node a = p["algorithms"]) pc.algs = read_algorithms(r, a);
      read_label_map(r, p["labels"], "posture labels", pc.labels);
    }
  }
  read_label_map(r, n["certificate_labels"], "certificate_labels", dc.certificate_labels);
  if (const YAML::Node proxies = n["forwarded_cert_from"]) {
    if (!proxies.IsSequence()) {
      r.error(proxies, "'forwarded_cert_from' must be a list of IP addresses");
    } else {
      for (const YAML::Node& a : proxies) {
        std::string canonical;
        if (!a.IsScalar() || !canonical_address(a.Scalar(), canonical)) {
          r.error(a, "'forwarded_cert_from' entries must be IP addresses (no names, no ranges)");
          continue;
        }
        dc.forwarded_cert_from.push_back(std::move(canonical));
      }
    }
  }
}

void read_identity(Reader& r, const YAML::Node& n, Config& config) {
  if (!n) return;
  if (!r.expect_map(n, "identity", {"jwt", "device"})) return;
  read_device(r, n["device"], config);
  const YAML::Node j = n["jwt"];
  if (!j) return;
  if (!r.expect_map(j, "jwt", {"issuers", "cache_entries"})) return;
  r.integer(j, "cache_entries", config.jwt.cache_entries, 0, 10'000'000);
  const YAML::Node list = j["issuers"];
  if (!list) return;
  if (!list.IsSequence()) {
    r.error(list, "'issuers' must be a list");
    return;
  }
  std::set<std::string> seen;
  for (const YAML::Node& in : list) {
    identity::IssuerConfig is;
    read_issuer(r, in, config.path, is);
    if (!is.issuer.empty() && !seen.insert(is.issuer).second)
      r.error(in, "issuer '" + is.issuer + "' is listed twice");
    config.jwt.issuers.push_back(std::move(is));
  }
}

}  // namespace

namespace {

ConfigPtr read_config_text(const std::string& text, const std::string& name) {
  Reader r(name);
  YAML::Node root;
  try {
    root = YAML::Load(text);
  } catch (const YAML::ParserException& e) {
    throw ConfigError({{name, e.mark.line + 1, e.msg}});
  }
  auto config = std::make_shared<Config>();
  config->path = name;
  const KeyDigest version = sha256(text);
  config->version = to_hex(version.data(), version.size()).substr(0, 16);
  if (!root.IsMap()) throw ConfigError({{name, 1, "the configuration must be a YAML mapping"}});
  r.expect_map(root, "the configuration",
               {"server", "admin", "log", "inspect", "catalog", "providers", "models", "keys",
                "identity", "policy", "audit", "limits", "binding"});
  config->server.listeners.assign(1, ClientListener{});  // 127.0.0.1:8080, plain
  read_server(r, root["server"], name, config->server);
  if (const YAML::Node a = root["admin"]) {
    if (r.expect_map(a, "admin", {"enabled", "listen"})) {
      r.boolean(a, "enabled", config->admin.enabled);
      read_listener(r, a["listen"], config->admin.listen);
    }
  }
  if (const YAML::Node l = root["log"]) {
    if (r.expect_map(l, "log", {"requests"})) r.boolean(l, "requests", config->log.requests);
  }
  read_inspect(r, root["inspect"], config->inspect);
  read_audit(r, root["audit"], *config);
  if (const YAML::Node c = root["catalog"]) {
    if (r.expect_map(c, "catalog", {"currency"}) &&
        r.str(c, "currency", config->catalog.currency)) {
      const std::string& cur = config->catalog.currency;
      if (cur.size() != 3 ||
          !std::all_of(cur.begin(), cur.end(), [](char ch) { return ch >= 'A' && ch <= 'Z'; }))
        r.error(c["currency"], "'currency' must be an ISO 4217 code (three capital letters)");
    }
  }
  config->limits.currency = config->catalog.currency;
  config->binding_key_file = "warden-binding.key";
  if (const YAML::Node b = root["binding"]) {
    if (r.expect_map(b, "binding", {"key_file"})) r.str(b, "key_file", config->binding_key_file);
  }
  config->binding_key_file = beside_config(*config, config->binding_key_file);
  read_providers(r, root["providers"], config->catalog);
  read_models(r, root["models"], config->catalog);
  read_keys(r, root["keys"], config->keys);
  read_limits(r, root["limits"], config->limits);
  // A budget counts what a deployment is configured to cost or take: one without the figures
  // counts nothing against it, which is rarely meant. Said at load.
  for (const Model& m : config->catalog.models) {
    for (const Deployment& d : m.deployments) {
      if (config->limits.counts_spend && d.price.input_per_mtok == 0 &&
          d.price.output_per_mtok == 0)
        config->warnings.push_back(config->path + ": warning: deployment '" + d.name +
                                   "' has no price: spend budgets count nothing for it");
      if (config->limits.counts_energy && !d.has_energy)
        config->warnings.push_back(config->path + ": warning: deployment '" + d.name +
                                   "' has no energy figures: energy budgets count nothing for it");
    }
  }
  read_identity(r, root["identity"], *config);
  config->catalog.index();
  read_policy(r, root["policy"], *config);
  if (!r.diags().empty()) throw ConfigError(std::move(r.diags()));
  config->catalog.index();
  return config;
}

}  // namespace

ConfigPtr load_config_text(const std::string& text, const std::string& name) {
  try {
    return read_config_text(text, name);
  } catch (const YAML::Exception& e) {
    // yaml-cpp can still throw for a document it parsed (an invalid node met while iterating a
    // mapping, found by fuzzing): a configuration error with its line, like any other.
    throw ConfigError({{name, e.mark.is_null() ? 0 : e.mark.line + 1, e.msg}});
  }
}

ConfigPtr load_config(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw ConfigError({{path, 0, "cannot open file"}});
  std::stringstream ss;
  ss << in.rdbuf();
  return load_config_text(ss.str(), path);
}

}  // namespace warden
