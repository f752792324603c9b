#include "identity/identity.h"

#include <openssl/crypto.h>

namespace warden {

void KeyStore::add(const KeyDigest& digest, Principal principal) {
  entries_.push_back(Entry{digest, std::move(principal)});
}

Result<const Principal*> KeyStore::authenticate(std::string_view key) const {
  if (key.empty()) {
    return make_error(ErrorCode::kUnauthenticated,
                      "Missing API key: send 'Authorization: Bearer <key>' or 'api-key: <key>'.");
  }
  const KeyDigest digest = sha256(key);
  const Principal* found = nullptr;
  for (const Entry& e : entries_) {
    // CRYPTO_memcmp runs in time independent of where the digests differ.
    const bool equal = CRYPTO_memcmp(e.digest.data(), digest.data(), digest.size()) == 0;
    if (equal && found == nullptr) found = &e.principal;
  }
  if (found == nullptr) return make_error(ErrorCode::kUnauthenticated, "Invalid API key.");
  return found;
}

std::string_view presented_key(std::string_view authorization, std::string_view api_key_header) {
  constexpr std::string_view kBearer = "Bearer ";
  if (authorization.size() > kBearer.size()) {
    std::string_view scheme = authorization.substr(0, kBearer.size());
    bool is_bearer = true;
    for (size_t i = 0; i < kBearer.size(); ++i) {
      const char a = static_cast<char>(scheme[i] | 0x20);
      const char b = static_cast<char>(kBearer[i] | 0x20);
      if (a != b) is_bearer = false;
    }
    if (is_bearer) {
      std::string_view key = authorization.substr(kBearer.size());
      while (!key.empty() && key.front() == ' ') key.remove_prefix(1);
      while (!key.empty() && key.back() == ' ') key.remove_suffix(1);
      return key;
    }
  }
  return api_key_header;
}

}  // namespace warden
