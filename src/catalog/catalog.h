// The catalog: providers (where requests are sent), logical models (what clients name) and their
// deployments (who serves a model, under which law, where), with the provenance attributes that
// policy decides on. Built by the config loader; immutable once published in a Snapshot.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace warden::tokenizer {
class Tokenizer;
}

namespace warden {

// openai: OpenAI's API and compatible servers (chat, completions, embeddings, responses); azure:
// Azure OpenAI / AI Foundry (chat, completions, embeddings); anthropic: Anthropic's Messages API
// (api.anthropic.com or a compatible endpoint).
enum class ProviderKind { kOpenAI, kAzure, kAnthropic };

struct UpstreamTimeouts {
  uint32_t connect_ms = 5'000;
  uint32_t first_byte_ms = 60'000;
  uint32_t idle_ms = 60'000;  // between two reads of a streamed answer
  uint32_t total_ms = 600'000;
};

struct Provider {
  std::string name;
  ProviderKind kind = ProviderKind::kOpenAI;
  bool tls = false;
  std::string host;
  std::string port;
  std::string base_path;    // e.g. "/v1" (openai) or "/openai" (azure); no trailing slash
  std::string api_key_env;  // name of the environment variable, may be shown
  std::string api_key;      // the secret itself: never logged, never shown
  std::string api_version;  // azure only
  UpstreamTimeouts timeouts;
  uint32_t retries = 2;       // extra attempts on the same deployment
  uint32_t backoff_ms = 100;  // base of the jittered exponential backoff
  uint32_t max_idle = 64;     // idle keep-alive connections kept per worker
  bool tls_verify = true;
  std::string ca_file;  // optional extra CA bundle
};

struct Price {
  double input_per_mtok = 0;  // units of the catalog's currency per million input tokens
  double output_per_mtok = 0;
};

// What serving a million tokens takes, in Wh (the operator's figure for its hardware).
struct Energy {
  double wh_per_mtok_in = 0;
  double wh_per_mtok_out = 0;
};

struct Deployment {
  std::string name;
  const Provider* provider = nullptr;
  std::string upstream_model;  // the id sent upstream (azure: the deployment name)
  std::string operator_name;   // who runs the servers
  std::string jurisdiction;    // the law the operator answers to (ISO 3166 or bloc)
  std::string region;          // where the servers are
  int retention_days = 0;
  bool trains_on_inputs = false;
  Price price;
  std::string hardware;     // the accelerators that serve it ("h100", "tpu-v5e"); "" unknown
  std::string grid_region;  // the electricity grid it draws from ("DE", "SE-SE3"); "" unknown
  bool has_energy = false;  // `energy` was configured
  Energy energy;
};

// The endpoints a call can be for. kCountTokens (Anthropic's messages/count_tokens) carries a
// whole Messages prompt: a model serves it where it serves kMessages.
enum class CallKind : uint8_t {
  kChat,
  kCompletion,
  kEmbedding,
  kMessages,
  kCountTokens,
  kResponses
};

struct Model {
  std::string name;
  std::string developer;
  std::string origin;  // jurisdiction of the developer
  bool open_weights = false;
  std::string license;
  std::vector<CallKind> kinds;  // which endpoints the model serves
  // How the model reads token ids (tokenizer/tokenizer.h); nullptr when not configured: ids
  // sent to it cannot be read as text.
  const tokenizer::Tokenizer* tokenizer = nullptr;
  std::vector<Deployment> deployments;  // in preference order
  int64_t created = 0;

  bool serves(CallKind kind) const;
};

class Catalog {
 public:
  // Providers are held by unique_ptr so Deployment::provider stays valid when the vector grows.
  std::vector<std::unique_ptr<Provider>> providers;
  std::vector<Model> models;
  // What deployments' prices are in (ISO 4217); spend budgets count in it.
  std::string currency = "USD";

  void index();  // builds the name lookup; call once after filling `models`
  const Model* find(std::string_view name) const;
  const Provider* find_provider(std::string_view name) const;

 private:
  std::unordered_map<std::string_view, const Model*> by_name_;
};

std::string_view call_kind_name(CallKind kind);
// The kind a name stands for (call_kind_name's inverse); false when there is none.
bool call_kind_from_name(std::string_view name, CallKind& kind);

// Can a provider of `provider` kind answer a call of `kind` in its own wire format (no
// translation between APIs)?
bool provider_serves(ProviderKind provider, CallKind kind);

}  // namespace warden
