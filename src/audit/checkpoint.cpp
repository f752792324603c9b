#include "audit/checkpoint.h"

#include <fcntl.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <simdjson.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <stdexcept>

#include "common/json_writer.h"
#include "common/sha256.h"

namespace warden::audit {

namespace {

std::string base64(const unsigned char* data, size_t n) {
  std::string out(4 * ((n + 2) / 3), '\0');
  const int len =
      EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()), data, static_cast<int>(n));
  out.resize(static_cast<size_t>(len));
  return out;
}

std::optional<std::string> unbase64(std::string_view s) {
  if (s.size() % 4 != 0) return std::nullopt;
  std::string out(3 * s.size() / 4, '\0');
  const int len =
      EVP_DecodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                      reinterpret_cast<const unsigned char*>(s.data()), static_cast<int>(s.size()));
  if (len < 0) return std::nullopt;
  size_t pad = 0;
  if (!s.empty() && s.back() == '=') ++pad;
  if (s.size() > 1 && s[s.size() - 2] == '=') ++pad;
  out.resize(static_cast<size_t>(len) - pad);
  return out;
}

std::string fingerprint_of(EVP_PKEY* pkey) {
  unsigned char raw[32];
  size_t len = sizeof raw;
  if (EVP_PKEY_get_raw_public_key(pkey, raw, &len) != 1 || len != 32)
    throw std::runtime_error("not an Ed25519 key");
  return to_hex(sha256(std::string_view(reinterpret_cast<const char*>(raw), len)));
}

std::shared_ptr<EVP_PKEY> read_pem(const std::string& path, bool want_private) {
  FILE* f = std::fopen(path.c_str(), "r");
  if (f == nullptr) throw std::runtime_error("cannot read the key file " + path);
  EVP_PKEY* k = want_private ? PEM_read_PrivateKey(f, nullptr, nullptr, nullptr)
                             : PEM_read_PUBKEY(f, nullptr, nullptr, nullptr);
  if (k == nullptr && !want_private) {  // a private key file also gives its public key
    std::rewind(f);
    k = PEM_read_PrivateKey(f, nullptr, nullptr, nullptr);
  }
  std::fclose(f);
  if (k == nullptr) throw std::runtime_error(path + ": not a PEM key");
  if (EVP_PKEY_get_id(k) != EVP_PKEY_ED25519) {
    EVP_PKEY_free(k);
    throw std::runtime_error(path + ": not an Ed25519 key");
  }
  return std::shared_ptr<EVP_PKEY>(k, EVP_PKEY_free);
}

}  // namespace

Key Key::load_private(const std::string& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) throw std::runtime_error("no key file " + path);
  if ((st.st_mode & 077) != 0 || st.st_uid != ::geteuid()) {
    char mode[8];
    std::snprintf(mode, sizeof mode, "%04o", static_cast<unsigned>(st.st_mode & 07777));
    throw std::runtime_error("the signing key " + path + " must be private to its owner (mode " +
                             mode + "; run chmod 600 and chown it to the gateway's user)");
  }
  Key k;
  k.pkey_ = read_pem(path, true);
  k.fingerprint_ = fingerprint_of(k.pkey_.get());
  k.private_ = true;
  return k;
}

Key Key::load_public(const std::string& path) {
  Key k;
  k.pkey_ = read_pem(path, false);
  k.fingerprint_ = fingerprint_of(k.pkey_.get());
  return k;
}

void Key::generate(const std::string& path) {
  EVP_PKEY* raw = EVP_PKEY_Q_keygen(nullptr, nullptr, "ED25519");
  if (raw == nullptr) throw std::runtime_error("cannot generate an Ed25519 key");
  std::shared_ptr<EVP_PKEY> k(raw, EVP_PKEY_free);
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW, 0600);
  if (fd < 0) throw std::runtime_error("cannot create " + path + " (it must not exist yet)");
  FILE* f = ::fdopen(fd, "w");
  const bool ok = PEM_write_PrivateKey(f, k.get(), nullptr, nullptr, 0, nullptr, nullptr) == 1;
  std::fclose(f);
  if (!ok) throw std::runtime_error("cannot write " + path);
  FILE* p = std::fopen((path + ".pub").c_str(), "w");
  if (p == nullptr || PEM_write_PUBKEY(p, k.get()) != 1) {
    if (p) std::fclose(p);
    throw std::runtime_error("cannot write " + path + ".pub");
  }
  std::fclose(p);
}

std::string Key::sign(std::string_view message) const {
  std::unique_ptr<EVP_MD_CTX, decltype(&EVP_MD_CTX_free)> ctx(EVP_MD_CTX_new(), EVP_MD_CTX_free);
  unsigned char sig[64];
  size_t len = sizeof sig;
  if (!private_ || EVP_DigestSignInit(ctx.get(), nullptr, nullptr, nullptr, pkey_.get()) != 1 ||
      EVP_DigestSign(ctx.get(), sig, &len, reinterpret_cast<const unsigned char*>(message.data()),
                     message.size()) != 1)
    throw std::runtime_error("signing failed");
  return base64(sig, len);
}

bool Key::verify(std::string_view message, std::string_view signature_b64) const {
  const auto sig = unbase64(signature_b64);
  if (!sig || sig->size() != 64) return false;
  std::unique_ptr<EVP_MD_CTX, decltype(&EVP_MD_CTX_free)> ctx(EVP_MD_CTX_new(), EVP_MD_CTX_free);
  return EVP_DigestVerifyInit(ctx.get(), nullptr, nullptr, nullptr, pkey_.get()) == 1 &&
         EVP_DigestVerify(ctx.get(), reinterpret_cast<const unsigned char*>(sig->data()),
                          sig->size(), reinterpret_cast<const unsigned char*>(message.data()),
                          message.size()) == 1;
}

void Checkpoint::sign(const Key& k, const Key* previous) {
  key = k.fingerprint();
  rotated_from = previous ? previous->fingerprint() : "";
  body = "{\"chain\":";
  append_json_string(body, chain);
  body += ",\"hash\":\"" + hash + "\",\"key\":\"" + key + "\"";
  if (!rotated_from.empty()) body += ",\"rotated_from\":\"" + rotated_from + "\"";
  body += ",\"root\":\"" + root + "\",\"seq\":" + std::to_string(seq) +
          ",\"ts_ms\":" + std::to_string(ts_ms) + ",\"v\":" + std::to_string(kVersion) + "}";
  signatures = {{key, k.sign(body)}};
  if (previous) signatures.push_back({previous->fingerprint(), previous->sign(body)});
}

std::string Checkpoint::text() const {
  std::string out = "{\"checkpoint\":";
  append_json_string(out, body);
  if (!cosignatures.empty()) {
    out += ",\"cosignatures\":[";
    for (size_t i = 0; i < cosignatures.size(); ++i) {
      if (i) out += ',';
      out += "{\"key\":";
      append_json_string(out, cosignatures[i].key);
      out += ",\"sig\":";
      append_json_string(out, cosignatures[i].sig);
      out += ",\"witness\":";
      append_json_string(out, cosignatures[i].witness);
      out += '}';
    }
    out += ']';
  }
  out += ",\"signatures\":[";
  for (size_t i = 0; i < signatures.size(); ++i) {
    if (i) out += ',';
    out += "{\"key\":\"" + signatures[i].key + "\",\"sig\":\"" + signatures[i].sig + "\"}";
  }
  return out + "]}";
}

std::optional<Checkpoint> parse_checkpoint(std::string_view line) {
  simdjson::dom::parser outer, inner;
  simdjson::dom::element doc, body;
  std::string_view text;
  if (outer.parse(line.data(), line.size()).get(doc) != simdjson::SUCCESS ||
      doc["checkpoint"].get_string().get(text) != simdjson::SUCCESS)
    return std::nullopt;
  Checkpoint c;
  c.body.assign(text);
  if (inner.parse(c.body).get(body) != simdjson::SUCCESS) return std::nullopt;
  std::string_view chain, hash, root, key, rotated;
  int64_t v = 0;
  if (body["chain"].get_string().get(chain) || body["hash"].get_string().get(hash) ||
      body["root"].get_string().get(root) || body["key"].get_string().get(key) ||
      body["seq"].get_int64().get(c.seq) || body["ts_ms"].get_int64().get(c.ts_ms) ||
      body["v"].get_int64().get(v))
    return std::nullopt;
  if (body["rotated_from"].get_string().get(rotated) == simdjson::SUCCESS)
    c.rotated_from.assign(rotated);
  c.chain.assign(chain);
  c.hash.assign(hash);
  c.root.assign(root);
  c.key.assign(key);
  simdjson::dom::array sigs;
  if (doc["signatures"].get(sigs) != simdjson::SUCCESS) return std::nullopt;
  for (auto s : sigs) {
    std::string_view k, sig;
    if (s["key"].get_string().get(k) || s["sig"].get_string().get(sig)) return std::nullopt;
    c.signatures.push_back({std::string(k), std::string(sig)});
  }
  simdjson::dom::array cosigs;
  if (doc["cosignatures"].get(cosigs) == simdjson::SUCCESS) {
    for (auto s : cosigs) {
      std::string_view k, sig, witness;
      if (s["key"].get_string().get(k) || s["sig"].get_string().get(sig)) return std::nullopt;
      if (s["witness"].get_string().get(witness) != simdjson::SUCCESS) witness = {};
      c.cosignatures.push_back({std::string(k), std::string(sig), std::string(witness)});
    }
  }
  return c;
}

}  // namespace warden::audit
