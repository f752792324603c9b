#include "identity/identity.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>

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

KeyDigest sha256(std::string_view data) {
  // OpenSSL 3 looks the algorithm up on every EVP_Digest call (~6k instructions); fetch it once
  // per process and keep one context per thread.
  static EVP_MD* const md = EVP_MD_fetch(nullptr, "SHA256", nullptr);
  struct Ctx {
    EVP_MD_CTX* ctx = EVP_MD_CTX_new();
    ~Ctx() { EVP_MD_CTX_free(ctx); }
  };
  thread_local Ctx holder;
  KeyDigest out{};
  unsigned int len = 0;
  EVP_DigestInit_ex2(holder.ctx, md, nullptr);
  EVP_DigestUpdate(holder.ctx, data.data(), data.size());
  EVP_DigestFinal_ex(holder.ctx, out.data(), &len);
  return out;
}

std::string to_hex(const unsigned char* data, size_t size) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out(size * 2, '0');
  for (size_t i = 0; i < size; ++i) {
    out[2 * i] = kHex[data[i] >> 4];
    out[2 * i + 1] = kHex[data[i] & 0xf];
  }
  return out;
}

bool parse_hex_digest(std::string_view hex, KeyDigest& out) {
  if (hex.size() != 64) return false;
  auto nibble = [](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
  };
  for (size_t i = 0; i < 32; ++i) {
    const int hi = nibble(hex[2 * i]);
    const int lo = nibble(hex[2 * i + 1]);
    if (hi < 0 || lo < 0) return false;
    out[i] = static_cast<unsigned char>(hi << 4 | lo);
  }
  return true;
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
