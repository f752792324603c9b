// Signed checkpoints: (chain, seq, chain hash, Merkle root, time) signed with an Ed25519 key,
// written to the store and to sinks outside it (log, witnesses). A checkpoint is one line of JSON:
//   {"checkpoint":"<body>","signatures":[{"key":"<fingerprint>","sig":"<base64>"}, …]}
// where <body> is the exact signed text, itself canonical JSON:
//   {"chain":…,"hash":…,"key":…,"root":…,"seq":…,"ts_ms":…,"v":1}
// (`key` is the signing key's fingerprint: SHA-256 of its 32-byte raw public key, hex; a
// checkpoint that rotates the key adds "rotated_from" and carries both keys' signatures). A
// witness that accepts a checkpoint answers a countersignature: its own Ed25519 signature over
// the same <body>; the copy the gateway stores adds them as
//   "cosignatures":[{"key":"<witness fingerprint>","sig":"<base64>","witness":"<url>"}, …]
// (the url is a label, not signed: the key is what a verifier trusts).
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

typedef struct evp_pkey_st EVP_PKEY;

namespace warden::audit {

class Key {
 public:
  // A private key file (PEM, PKCS#8). Throws when unreadable, not Ed25519, or readable by
  // anyone but its owner (mode & 077).
  static Key load_private(const std::string& path);
  // A public key file (PEM) — or a private key file, whose public half is used.
  static Key load_public(const std::string& path);
  // Writes a new key pair: `path` (mode 0600, refuses to overwrite) and `path`.pub.
  static void generate(const std::string& path);

  const std::string& fingerprint() const { return fingerprint_; }
  bool has_private() const { return private_; }
  std::string sign(std::string_view message) const;  // base64
  bool verify(std::string_view message, std::string_view signature_b64) const;

 private:
  std::shared_ptr<EVP_PKEY> pkey_;
  std::string fingerprint_;
  bool private_ = false;
};

struct Checkpoint {
  static constexpr int kVersion = 1;
  std::string chain;
  int64_t seq = 0;
  std::string hash;  // the chain hash of record `seq` (64 zeros when seq is 0)
  std::string root;  // Merkle root of records 1..seq
  int64_t ts_ms = 0;
  std::string key;           // fingerprint of the signing key
  std::string rotated_from;  // fingerprint of the key this one replaces, or ""
  struct Signature {
    std::string key, sig;
  };
  std::vector<Signature> signatures;
  struct Cosignature {
    std::string key, sig, witness;
  };
  std::vector<Cosignature> cosignatures;
  std::string body;  // the signed text (set by sign() or parse)

  // Builds `body` and signs it with `key` (and `previous`, when rotating).
  void sign(const Key& key, const Key* previous = nullptr);
  std::string text() const;  // the one-line JSON form
};

std::optional<Checkpoint> parse_checkpoint(std::string_view line);

}  // namespace warden::audit
