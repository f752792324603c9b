#include "catalog/catalog.h"

#include <algorithm>

namespace warden {

bool Model::serves(CallKind kind) const {
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
  }
  return "chat";
}

}  // namespace warden
