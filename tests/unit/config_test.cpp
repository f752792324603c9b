#include <gtest/gtest.h>

#include <cstdlib>
#include <fstream>

#include "config/config.h"
#include "tokenizer/tokenizer.h"

namespace warden {
namespace {

const char* kValid = R"(
server:
  listen: 127.0.0.1:8080
  max_body_bytes: 1048576
providers:
  - name: local
    kind: openai
    base_url: http://127.0.0.1:9000/v1
  - name: azure-eu
    kind: azure
    base_url: https://example.openai.azure.com
    api_version: "2024-10-21"
    api_key_env: WARDEN_TEST_AZURE_KEY
models:
  - name: gpt-4o
    developer: OpenAI
    origin: US
    deployments:
      - name: gpt-4o-azure-eu
        provider: azure-eu
        upstream_model: gpt4o-prod
        operator: Microsoft
        jurisdiction: US
        region: swedencentral
        retention_days: 30
        price: {input_per_mtok: 2.5, output_per_mtok: 10}
      - name: gpt-4o-local
        provider: local
        operator: ACME
        jurisdiction: DE
        region: fra
keys:
  - sha256: ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad
    principal: {id: alice, team: research, clearance: internal, labels: {cost_center: "42"}}
)";

class ConfigTest : public ::testing::Test {
 protected:
  void SetUp() override { setenv("WARDEN_TEST_AZURE_KEY", "secret-value", 1); }
};

std::vector<std::string> problems(const std::string& text) {
  try {
    load_config_text(text, "w.yaml");
  } catch (const ConfigError& e) {
    std::vector<std::string> out;
    for (const auto& d : e.diagnostics()) out.push_back(d.str());
    return out;
  }
  return {};
}

TEST_F(ConfigTest, LoadsAValidConfiguration) {
  auto c = load_config_text(kValid, "w.yaml");
  EXPECT_EQ(c->server.max_body_bytes, 1048576u);
  ASSERT_EQ(c->catalog.models.size(), 1u);
  const Model* m = c->catalog.find("gpt-4o");
  ASSERT_NE(m, nullptr);
  ASSERT_EQ(m->deployments.size(), 2u);
  EXPECT_EQ(m->deployments[0].provider->kind, ProviderKind::kAzure);
  EXPECT_EQ(m->deployments[0].provider->api_key, "secret-value");
  EXPECT_EQ(m->deployments[0].upstream_model, "gpt4o-prod");
  EXPECT_EQ(m->deployments[0].price.output_per_mtok, 10);
  EXPECT_EQ(m->deployments[1].upstream_model, "gpt-4o");  // defaults to the model's name
  EXPECT_EQ(m->deployments[1].provider->port, "9000");
  EXPECT_EQ(m->deployments[1].provider->base_path, "/v1");
  EXPECT_EQ(c->keys.size(), 1u);
  auto p = c->keys.authenticate("abc");
  ASSERT_TRUE(p);
  EXPECT_EQ((*p)->labels.at("cost_center"), "42");
  EXPECT_EQ(c->version.size(), 16u);
}

TEST_F(ConfigTest, ReportsEveryProblemWithItsLine) {
  std::string text = kValid;
  text.replace(text.find("max_body_bytes"), 14, "max_body_bytez");      // line 4
  text.replace(text.find("provider: local"), 15, "provider: nowhere");  // line 28
  text += "  - sha256: nothex\n    principal: {id: bob}\n";             // line 35
  text.replace(text.find("origin: US"), 10, "origin: [US]");            // line 17
  const auto p = problems(text);
  ASSERT_EQ(p.size(), 4u) << ::testing::PrintToString(p);
  EXPECT_EQ(p[0], "w.yaml:4: unknown key 'max_body_bytez' in server");
  EXPECT_EQ(p[1], "w.yaml:17: 'origin' must be a string");
  EXPECT_EQ(p[2], "w.yaml:28: unknown provider 'nowhere'");
  EXPECT_EQ(p[3], "w.yaml:35: 'sha256' must be 64 hex digits (see 'warden keys hash')");
}

TEST_F(ConfigTest, RejectsDuplicatesAndMissingCredentials) {
  std::string text = kValid;
  text += R"(  - sha256: ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad
    principal: {id: again}
)";
  unsetenv("WARDEN_TEST_AZURE_KEY");
  const auto p = problems(text);
  ASSERT_EQ(p.size(), 2u) << ::testing::PrintToString(p);
  EXPECT_NE(p[0].find("WARDEN_TEST_AZURE_KEY"), std::string::npos);
  EXPECT_EQ(p[0].find("secret-value"), std::string::npos);
  EXPECT_NE(p[1].find("duplicate key digest"), std::string::npos);
}

TEST_F(ConfigTest, RejectsDuplicateModelAndBadValues) {
  const auto p = problems(R"(
providers:
  - {name: a, base_url: "ftp://x"}
models:
  - {name: m, developer: d, origin: US, deployments: [{name: d1, provider: a, operator: o, jurisdiction: US, region: r}]}
  - {name: m, developer: d, origin: US, deployments: []}
server: {workers: -1, idle_timeout_ms: fast}
)");
  ASSERT_EQ(p.size(), 5u) << ::testing::PrintToString(p);
  EXPECT_EQ(p[0], "w.yaml:7: 'workers' must be between 0 and 256");
  EXPECT_EQ(p[1], "w.yaml:7: 'idle_timeout_ms' must be an integer");
  EXPECT_EQ(p[2], "w.yaml:3: 'base_url' must start with http:// or https://");
  EXPECT_EQ(p[3], "w.yaml:6: duplicate model 'm'");
  EXPECT_EQ(p[4], "w.yaml:6: model 'm' needs a non-empty list 'deployments'");
}

TEST_F(ConfigTest, InterpolatesEnvironmentAndReportsSyntaxErrors) {
  setenv("WARDEN_TEST_HOST", "10.0.0.7", 1);
  std::string text = kValid;
  text.replace(text.find("127.0.0.1:9000"), 14, "${WARDEN_TEST_HOST}:9000");
  auto c = load_config_text(text, "w.yaml");
  EXPECT_EQ(c->catalog.find_provider("local")->host, "10.0.0.7");
  const auto p = problems("models: [unclosed\n");
  ASSERT_EQ(p.size(), 1u);
  EXPECT_EQ(p[0].rfind("w.yaml:", 0), 0u);
}

TEST_F(ConfigTest, ConnectionLimitsAndTrustedProxiesAreChecked) {
  std::string text = kValid;
  const std::string anchor = "  max_body_bytes: 1048576\n";
  std::string bad = text;
  bad.insert(bad.find(anchor) + anchor.size(),
             "  first_byte_timeout_ms: 5\n  trusted_proxies: [10.0.0.5, proxy.local, 10.0.0.0/8]\n"
             "  max_connections_per_address: -1\n");
  const auto p = problems(bad);
  ASSERT_EQ(p.size(), 4u) << ::testing::PrintToString(p);
  EXPECT_EQ(p[0], "w.yaml:5: 'first_byte_timeout_ms' must be between 100 and 3600000");
  EXPECT_EQ(p[1], "w.yaml:7: 'max_connections_per_address' must be between 0 and 10000000");
  EXPECT_EQ(p[2], "w.yaml:6: 'trusted_proxies' entries must be IP addresses (no names, no ranges)");
  EXPECT_EQ(p[3], p[2]);
  text.insert(text.find(anchor) + anchor.size(),
              "  first_byte_timeout_ms: 2000\n  trusted_proxies: [10.0.0.5, '0:0::1']\n"
              "  max_connections_per_address: 8\n");
  const auto c = load_config_text(text, "w.yaml");
  EXPECT_EQ(c->server.first_byte_timeout_ms, 2000u);
  EXPECT_EQ(c->server.max_connections_per_address, 8u);
  EXPECT_EQ(c->server.trusted_proxies, (std::vector<std::string>{"10.0.0.5", "::1"}));
}

TEST_F(ConfigTest, ACaFileThatCannotServeIsReportedWithItsLine) {
  auto with_ca = [](const std::string& path) {
    std::string text = kValid;
    const std::string anchor = "    api_key_env: WARDEN_TEST_AZURE_KEY\n";
    text.insert(text.find(anchor) + anchor.size(), "    tls: {ca_file: " + path + "}\n");
    return text;
  };
  auto p = problems(with_ca("/nonexistent/ca.pem"));
  ASSERT_EQ(p.size(), 1u) << ::testing::PrintToString(p);
  EXPECT_EQ(p[0].rfind("w.yaml:14: 'ca_file' cannot be read", 0), 0u) << p[0];
  const std::string not_pem = ::testing::TempDir() + "/not-a-ca.pem";
  {
    std::ofstream out(not_pem);
    out << "this is not a certificate\n";
  }
  p = problems(with_ca(not_pem));
  ASSERT_EQ(p.size(), 1u) << ::testing::PrintToString(p);
  EXPECT_EQ(p[0], "w.yaml:14: 'ca_file' holds no PEM certificate");
  const std::string ca = ::testing::TempDir() + "/ca.pem";
  const std::string make_ca =
      "openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 1 -subj /CN=ca "
      "-keyout " +
      ::testing::TempDir() + "/ca.key -out " + ca + " 2>/dev/null";
  ASSERT_EQ(std::system(make_ca.c_str()), 0);
  EXPECT_TRUE(problems(with_ca(ca)).empty());
}

TEST_F(ConfigTest, AModelNamesItsTokenizerOrHasNone) {
  EXPECT_EQ(load_config_text(kValid, "w.yaml")->catalog.find("gpt-4o")->tokenizer, nullptr);
  std::string text = kValid;
  text.replace(text.find("origin: US"), 10, "origin: US\n    tokenizer: o200k_base");
  const auto c = load_config_text(text, "w.yaml");
  EXPECT_EQ(c->catalog.find("gpt-4o")->tokenizer, tokenizer::find("o200k_base"));
  ASSERT_NE(c->catalog.find("gpt-4o")->tokenizer, nullptr);

  text = kValid;
  text.replace(text.find("origin: US"), 10, "origin: US\n    tokenizer: p50k_base");  // line 18
  auto p = problems(text);
  ASSERT_EQ(p.size(), 1u) << ::testing::PrintToString(p);
  EXPECT_EQ(p[0], "w.yaml:18: unknown tokenizer 'p50k_base' (expected o200k_base or cl100k_base)");
  text = kValid;
  text.replace(text.find("origin: US"), 10, "origin: US\n    tokenizer: [o200k_base]");
  p = problems(text);
  ASSERT_EQ(p.size(), 1u) << ::testing::PrintToString(p);
  EXPECT_EQ(p[0], "w.yaml:18: 'tokenizer' must be a string");
}

TEST_F(ConfigTest, LimitsAreReadWithTheirKeysAndMeasures) {
  std::string text = kValid;
  text += R"(limits:
  default_max_tokens: 256
  rules:
    - {name: rpm, key: principal, requests_per_minute: 60}
    - {name: team-tokens, key: [team, model], tokens_per_day: 100000, on_store_failure: fail_open}
    - {name: groups, key: "label:groups", tokens_per_minute: 5000}
    - {name: streams, key: [principal], concurrent_streams: 2}
    - {name: per-deployment, key: deployment, requests_per_second: 5}
)";
  auto c = load_config_text(text, "w.yaml");
  const limits::Settings& l = c->limits;
  EXPECT_EQ(l.default_max_tokens, 256);
  ASSERT_EQ(l.rules.size(), 5u);
  EXPECT_EQ(l.rules[0].spec.kind, limits::Kind::rate);
  EXPECT_EQ(l.rules[0].spec.window, 60'000'000);
  EXPECT_EQ(l.rules[1].spec.kind, limits::Kind::budget);
  EXPECT_EQ(l.rules[1].key.size(), 2u);
  EXPECT_TRUE(l.rules[1].fail_open);
  EXPECT_FALSE(l.rules[0].fail_open);  // fail closed unless written
  EXPECT_EQ(l.rules[2].key[0].label, "groups");
  EXPECT_EQ(l.rules[3].spec.kind, limits::Kind::concurrency);
  EXPECT_TRUE(l.needs_usage);
  EXPECT_TRUE(l.by_deployment);
  EXPECT_EQ(l.describe(),
            "rpm: 60 requests per minute per principal\n"
            "team-tokens: 100000 tokens per day per team+model (fail_open)\n"
            "groups: 5000 tokens per minute per label:groups\n"
            "streams: 2 concurrent streams per principal\n"
            "per-deployment: 5 requests per second per deployment\n");
}

TEST_F(ConfigTest, ALimitRuleNeedsOneMeasureAKnownKeyAndAUniqueName) {
  std::string text = kValid;  // 34 lines
  text += R"(limits:
  default_max_tokens: 0
  rules:
    - {name: a, key: [principal, country], requests_per_minute: 1}
    - {name: a, requests_per_minute: 1, tokens_per_day: 5}
    - {name: b, key: team}
    - {name: c, requests_per_hour: 3}
    - {name: d, concurrent_streams: -1, on_store_failure: maybe}
)";
  const auto p = problems(text);
  ASSERT_EQ(p.size(), 9u) << ::testing::PrintToString(p);
  EXPECT_EQ(p[0], "w.yaml:36: 'default_max_tokens' must be between 1 and 10000000");
  EXPECT_EQ(p[1],
            "w.yaml:38: unknown limit key 'country' (expected principal, team, label:NAME, model "
            "or deployment)");
  EXPECT_EQ(p[2], "w.yaml:39: duplicate limit rule 'a'");
  EXPECT_NE(p[3].find("w.yaml:39: limit rule 'a' needs exactly one of"), std::string::npos);
  EXPECT_NE(p[4].find("w.yaml:40: limit rule 'b' needs exactly one of"), std::string::npos);
  EXPECT_EQ(p[5], "w.yaml:41: unknown key 'requests_per_hour' in limit rule");
  EXPECT_NE(p[6].find("w.yaml:41: limit rule 'c' needs exactly one of"), std::string::npos);
  EXPECT_EQ(p[7], "w.yaml:42: 'concurrent_streams' must be between 1 and 1000000000000");
  EXPECT_EQ(p[8], "w.yaml:42: 'on_store_failure' must be fail_closed or fail_open");
}

TEST_F(ConfigTest, TheRedisLimitStoreIsHostAndPort) {
  std::string text = kValid;
  text += "limits:\n  redis: 127.0.0.1:6379\n  redis_timeout_ms: 100\n";
  auto c = load_config_text(text, "w.yaml");
  EXPECT_EQ(c->limits.redis, "127.0.0.1:6379");
  EXPECT_EQ(c->limits.redis_timeout_ms, 100u);
  text = kValid;
  text += "limits:\n  redis: redis.local\n";
  EXPECT_EQ(problems(text), std::vector<std::string>{"w.yaml:36: 'redis' must be host:port"});
}

TEST_F(ConfigTest, TheShippedExampleIsValid) {
  EXPECT_NO_THROW(load_config(std::string(WARDEN_SOURCE_DIR) + "/examples/warden.yaml"));
}

}  // namespace
}  // namespace warden
