// SHA-256 (OpenSSL), for API key digests, the audit chain and cache keys: one implementation.
#pragma once

#include <array>
#include <initializer_list>
#include <string>
#include <string_view>

namespace warden {

using Digest = std::array<unsigned char, 32>;

// SHA-256 of the concatenation of `parts`. The algorithm is fetched once per process and the
// context reused per thread (OpenSSL 3 would otherwise look it up on every call).
Digest sha256(std::initializer_list<std::string_view> parts);
inline Digest sha256(std::string_view data) {
  return sha256({data});
}

std::string to_hex(const unsigned char* data, size_t size);
inline std::string to_hex(const Digest& d) {
  return to_hex(d.data(), d.size());
}
// 64 hex digits (either case) into a digest; false when it is not one.
bool parse_hex_digest(std::string_view hex, Digest& out);

}  // namespace warden
