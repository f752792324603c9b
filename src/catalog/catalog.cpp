#include "catalog/catalog.h"

#include <algorithm>

namespace warden {

bool Model::serves(CallKind kind) const {
  if (kind == CallKind::kCountTokens) kind = CallKind::kMessages;
  return std::find(kinds.begin(), kinds.end(), kind) != kinds.end();
}

void Catalog::index() {
  by_name_.clear();
  for (const Model& m : models) by_name_.emplace(m.name, &m);
}

const Model* Catalog::find(std::string_view name) const {
  auto it = by_name_.find(name);
  return it == by_name_.end() ? nullptr : it->second;
}

const Provider* Catalog::find_provider(std::string_view name) const {
  for (const auto& p : providers) {
    if (p->name == name) return p.get();
  }
  return nullptr;
}

std::string_view call_kind_name(CallKind kind) {
  switch (kind) {
    case CallKind::kChat:
      return "chat";
    case CallKind::kCompletion:
      return "completion";
    case CallKind::kEmbedding:
      return "embedding";
    case CallKind::kMessages:
      return "messages";
    case CallKind::kCountTokens:
      return "count_tokens";
    case CallKind::kResponses:
      return "responses";
  }
  return "chat";
}

bool call_kind_from_name(std::string_view name, CallKind& kind) {
  for (CallKind k : {CallKind::kChat, CallKind::kCompletion, CallKind::kEmbedding,
                     CallKind::kMessages, CallKind::kCountTokens, CallKind::kResponses}) {
    if (call_kind_name(k) == name) {
      kind = k;
      return true;
    }
  }
  return false;
}

bool provider_serves(ProviderKind provider, CallKind kind) {
  switch (provider) {
    case ProviderKind::kAnthropic:
      return kind == CallKind::kMessages || kind == CallKind::kCountTokens;
    case ProviderKind::kOpenAI:
      return kind == CallKind::kChat || kind == CallKind::kCompletion ||
             kind == CallKind::kEmbedding || kind == CallKind::kResponses;
    case ProviderKind::kAzure:
      return kind == CallKind::kChat || kind == CallKind::kCompletion ||
             kind == CallKind::kEmbedding;
  }
  return false;
}

}  // namespace warden
