#include "inspect/binding.h"

#include <fcntl.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <array>

#include "common/json_scan.h"
#include "common/json_writer.h"
#include "common/sha256.h"

namespace warden::inspect {

namespace {

using Segment = JsonToken::Segment;

constexpr std::string_view kResponsePrefix = "resp_w1.";
constexpr std::string_view kSignedPrefix = "wsig1.";
// 128 bits of the HMAC: a forgery needs 2^128 guesses, each one a request.
constexpr size_t kMacBytes = 16;

constexpr std::string_view kAlphabet =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

std::string base64url(std::string_view bytes) {
  std::string out;
  out.reserve((bytes.size() * 4 + 2) / 3);
  uint32_t acc = 0;
  int bits = 0;
  for (const char c : bytes) {
    acc = (acc << 8) | static_cast<unsigned char>(c);
    bits += 8;
    while (bits >= 6) {
      bits -= 6;
      out += kAlphabet[(acc >> bits) & 0x3f];
    }
  }
  if (bits > 0) out += kAlphabet[(acc << (6 - bits)) & 0x3f];
  return out;
}

bool from_base64url(std::string_view text, std::string& out) {
  out.clear();
  uint32_t acc = 0;
  int bits = 0;
  for (const char c : text) {
    const size_t v = kAlphabet.find(c);
    if (v == std::string_view::npos) return false;
    acc = (acc << 6) | static_cast<uint32_t>(v);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out += static_cast<char>((acc >> bits) & 0xff);
    }
  }
  // Leftover bits must be zero: one encoding per value.
  return bits < 6 && (acc & ((1u << bits) - 1)) == 0;
}

Binder::Kind kind_of_prefix(std::string_view prefix) {
  return prefix == kResponsePrefix ? Binder::Kind::kResponse : Binder::Kind::kSigned;
}

}  // namespace

struct Binder::Pads {
  EVP_MD_CTX* inner = EVP_MD_CTX_new();
  EVP_MD_CTX* outer = EVP_MD_CTX_new();
  ~Pads() {
    EVP_MD_CTX_free(inner);
    EVP_MD_CTX_free(outer);
  }
};

Binder::Binder(std::string key) : pads_(std::make_unique<Pads>()) {
  // HMAC (RFC 2104): H((K ^ opad) || H((K ^ ipad) || m)), K padded to the block (64 bytes).
  std::array<unsigned char, 64> block{};
  if (key.size() > block.size()) {
    const Digest d = sha256(key);
    std::copy(d.begin(), d.end(), block.begin());
  } else {
    std::copy(key.begin(), key.end(), block.begin());
  }
  std::array<unsigned char, 64> pad{};
  for (size_t i = 0; i < block.size(); ++i) pad[i] = block[i] ^ 0x36;
  EVP_DigestInit_ex(pads_->inner, EVP_sha256(), nullptr);
  EVP_DigestUpdate(pads_->inner, pad.data(), pad.size());
  for (size_t i = 0; i < block.size(); ++i) pad[i] = block[i] ^ 0x5c;
  EVP_DigestInit_ex(pads_->outer, EVP_sha256(), nullptr);
  EVP_DigestUpdate(pads_->outer, pad.data(), pad.size());
  OPENSSL_cleanse(block.data(), block.size());
  OPENSSL_cleanse(pad.data(), pad.size());
}

Binder::~Binder() = default;

std::string Binder::mac(Kind kind, std::string_view deployment, std::string_view scope,
                        std::string_view value) const {
  // One context per thread, copied from the keyed states (no allocation per MAC).
  thread_local const std::unique_ptr<EVP_MD_CTX, decltype(&EVP_MD_CTX_free)> ctx(EVP_MD_CTX_new(),
                                                                                 &EVP_MD_CTX_free);
  // Lengths first: no two (deployment, scope, value) triples give the same input.
  unsigned char head[1 + 3 * 8];
  head[0] = static_cast<unsigned char>(kind);
  size_t at = 1;
  for (const std::string_view part : {deployment, scope, value}) {
    const uint64_t n = part.size();
    for (int i = 0; i < 8; ++i) head[at++] = static_cast<unsigned char>((n >> (8 * i)) & 0xff);
  }
  std::array<unsigned char, EVP_MAX_MD_SIZE> digest{};
  unsigned int len = 0;
  EVP_MD_CTX_copy_ex(ctx.get(), pads_->inner);
  EVP_DigestUpdate(ctx.get(), head, sizeof head);
  for (const std::string_view part : {deployment, scope, value})
    EVP_DigestUpdate(ctx.get(), part.data(), part.size());
  EVP_DigestFinal_ex(ctx.get(), digest.data(), &len);
  EVP_MD_CTX_copy_ex(ctx.get(), pads_->outer);
  EVP_DigestUpdate(ctx.get(), digest.data(), len);
  EVP_DigestFinal_ex(ctx.get(), digest.data(), &len);
  return std::string(reinterpret_cast<const char*>(digest.data()), kMacBytes);
}

std::string Binder::bind(Kind kind, std::string_view deployment, std::string_view scope,
                         std::string_view value) const {
  std::string out(kind == Kind::kResponse ? kResponsePrefix : kSignedPrefix);
  out += base64url(deployment);
  out += '.';
  out += base64url(mac(kind, deployment, scope, value));
  out += '.';
  out += value;
  return out;
}

Binder::Check Binder::unbind(Kind kind, std::string_view scope, std::string_view wrapped,
                             std::string& deployment, std::string& value) const {
  const std::string_view prefix = kind == Kind::kResponse ? kResponsePrefix : kSignedPrefix;
  if (wrapped.substr(0, prefix.size()) != prefix) return Check::kNotBound;
  std::string_view rest = wrapped.substr(prefix.size());
  const size_t dot1 = rest.find('.');
  if (dot1 == std::string_view::npos) return Check::kForged;
  const size_t dot2 = rest.find('.', dot1 + 1);
  if (dot2 == std::string_view::npos) return Check::kForged;
  std::string given;
  if (!from_base64url(rest.substr(0, dot1), deployment) || deployment.empty() ||
      !from_base64url(rest.substr(dot1 + 1, dot2 - dot1 - 1), given) || given.size() != kMacBytes)
    return Check::kForged;
  const std::string_view v = rest.substr(dot2 + 1);
  const std::string expected = mac(kind, deployment, scope, v);
  if (CRYPTO_memcmp(expected.data(), given.data(), kMacBytes) != 0) return Check::kForged;
  value.assign(v);
  return Check::kValid;
}

std::string load_binding_key(const std::string& path, std::string& error) {
  auto read_key = [&](int fd) {
    std::string key;
    struct stat st {};
    if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
      error = path + ": not a regular file";
      return key;
    }
    if ((st.st_mode & 077) != 0) {
      error = path + ": the binding key must not be readable by others (chmod 600)";
      return key;
    }
    key.resize(static_cast<size_t>(std::min<off_t>(st.st_size, 4096)));
    size_t got = 0;
    while (got < key.size()) {
      const ssize_t n = ::read(fd, key.data() + got, key.size() - got);
      if (n <= 0) break;
      got += static_cast<size_t>(n);
    }
    if (got != key.size() || key.size() < Binder::kKeyBytes) {
      error = path + ": a binding key holds at least 32 bytes";
      key.clear();
    }
    return key;
  };
  int fd = ::open(path.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
  if (fd >= 0) {
    std::string key = read_key(fd);
    ::close(fd);
    return key;
  }
  if (errno != ENOENT) {
    error = path + ": cannot be read";
    return {};
  }
  std::string key(Binder::kKeyBytes, '\0');
  if (RAND_bytes(reinterpret_cast<unsigned char*>(key.data()), static_cast<int>(key.size())) != 1) {
    error = "no random bytes for a binding key";
    return {};
  }
  fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
  if (fd < 0) {
    error = path + ": cannot be created";
    return {};
  }
  const bool written = ::write(fd, key.data(), key.size()) == static_cast<ssize_t>(key.size());
  const bool closed = ::close(fd) == 0;
  if (!written || !closed) {
    ::unlink(path.c_str());
    error = path + ": cannot be written";
    return {};
  }
  return key;
}

namespace {

bool at(std::span<const Segment> p, std::initializer_list<std::string_view> keys) {
  if (p.size() != keys.size()) return false;
  size_t i = 0;
  for (const std::string_view k : keys) {
    const Segment& s = p[i++];
    if (k == "#" ? !s.is_index : !s.is(k)) return false;
  }
  return true;
}

// Which binding a string of an answer gets, if any.
const std::string_view* answer_prefix(BindApi api, std::span<const Segment> p) {
  static const std::string_view kR = kResponsePrefix;
  static const std::string_view kS = kSignedPrefix;
  if (p.empty() || p.back().is_index) return nullptr;
  const std::string_view key = p.back().key;
  if (api == BindApi::kResponses) {
    if (key == "id" || key == "previous_response_id") {
      return at(p, {key}) || at(p, {"response", key}) ? &kR : nullptr;
    }
    if (key != "encrypted_content") return nullptr;
    const bool item = at(p, {"output", "#", key}) || at(p, {"item", key}) ||
                      at(p, {"response", "output", "#", key});
    return item ? &kS : nullptr;
  }
  if (key != "signature" && key != "data") return nullptr;
  const bool block = at(p, {"content", "#", key}) || at(p, {"content_block", key}) ||
                     at(p, {"message", "content", "#", key}) ||
                     (key == "signature" && at(p, {"delta", key}));
  return block ? &kS : nullptr;
}

// std::string_view::find: memchr to each '"' (or '\\'), then a compare; JSON text holds few of
// them (glibc's memmem costs ~4 instructions a byte whatever the text: 3x more on a 4.5 KB body).
bool has(std::string_view text, std::string_view needle) {
  return text.find(needle) != std::string_view::npos;
}

bool mentions(std::string_view json, BindApi api, bool event) {
  if (api == BindApi::kResponses) {
    // An event carries the response object as "response" (item events hold only items' ids).
    return has(json, event ? "\"response\"" : "\"id\"") || has(json, "\"previous_response_id\"") ||
           has(json, "\"encrypted_content\"");
  }
  return has(json, "\"signature\"") || has(json, "\"data\"");
}

}  // namespace

Bound bind_answer(const Binder& binder, BindApi api, std::string_view deployment,
                  std::string_view principal, std::string_view json, std::string& out, bool event) {
  if (!mentions(json, api, event)) return Bound::kUnchanged;
  std::vector<Splice> splices;
  std::string decoded;
  const BodyScanStatus status = walk_json(
      json, 64,
      [&](const JsonToken& t) {
        const std::string_view* prefix = answer_prefix(api, t.path);
        if (prefix == nullptr || t.raw.size() <= 2) return true;
        decode_json_string(t.raw.substr(1, t.raw.size() - 2), decoded);
        const Binder::Kind kind = kind_of_prefix(*prefix);
        const std::string wrapped = binder.bind(
            kind, deployment, kind == Binder::Kind::kResponse ? principal : "", decoded);
        splices.push_back({static_cast<uint32_t>(t.offset),
                           static_cast<uint32_t>(t.offset + t.raw.size()), json_string(wrapped)});
        return true;
      },
      visit_bit(JsonToken::kString));
  if (status != BodyScanStatus::kOk) return Bound::kInvalid;
  if (splices.empty()) return Bound::kUnchanged;
  out = apply_splices(json, splices);
  return Bound::kChanged;
}

RequestBinding unbind_request(const Binder& binder, BindApi api, std::string_view principal,
                              std::string_view body) {
  RequestBinding out;
  // Most requests send nothing back: one search per key instead of a walk (a key may be written
  // with escapes: then the body is walked).
  const bool keys =
      api == BindApi::kResponses
          ? has(body, "\"previous_response_id\"") || has(body, "\"encrypted_content\"")
          : has(body, "\"signature\"") || has(body, "\"data\"");
  const bool mentioned = keys || has(body, "\\u");
  if (!mentioned) return out;
  std::string decoded, deployment, value;
  auto bound_to = [&](const std::string& d) {
    if (out.deployment.empty()) out.deployment = d;
    if (out.deployment != d) out.status = RequestBinding::kMixed;
  };
  walk_json(
      body, 64,
      [&](const JsonToken& t) {
        const auto p = t.path;
        const bool response_id = api == BindApi::kResponses && at(p, {"previous_response_id"});
        const bool signed_value = api == BindApi::kResponses
                                      ? at(p, {"input", "#", "encrypted_content"})
                                      : at(p, {"messages", "#", "content", "#", "signature"}) ||
                                            at(p, {"messages", "#", "content", "#", "data"});
        if (!response_id && !signed_value) return true;
        decode_json_string(t.raw.substr(1, t.raw.size() - 2), decoded);
        const Binder::Kind kind = response_id ? Binder::Kind::kResponse : Binder::Kind::kSigned;
        const Binder::Check check =
            binder.unbind(kind, response_id ? principal : "", decoded, deployment, value);
        if (check == Binder::Check::kNotBound && !response_id) return true;  // stays unreadable
        if (check != Binder::Check::kValid) {
          out.status = response_id ? RequestBinding::kForgedId : RequestBinding::kForgedSigned;
          return false;
        }
        bound_to(deployment);
        out.splices.push_back({static_cast<uint32_t>(t.offset),
                               static_cast<uint32_t>(t.offset + t.raw.size()), json_string(value)});
        if (signed_value) out.signed_offsets.push_back(static_cast<uint32_t>(t.offset));
        return out.status == RequestBinding::kOk;
      },
      visit_bit(JsonToken::kString));
  return out;
}

void exempt_bound(BodyScan& scan, const RequestBinding& binding) {
  if (binding.signed_offsets.empty()) return;
  auto uncount = [&scan](std::string_view cls) {
    const auto it = scan.counts.find(cls);
    if (it == scan.counts.end()) return;
    if (--it->second == 0) scan.counts.erase(it);
  };
  for (size_t i = 0; i < binding.signed_offsets.size(); ++i) uncount("uninspectable.signed");
  std::erase_if(scan.strings, [&](const BodyString& s) {
    if (std::find(binding.signed_offsets.begin(), binding.signed_offsets.end(), s.raw_begin) ==
        binding.signed_offsets.end())
      return false;
    for (const Finding& f : s.findings) uncount(f.cls);
    return true;
  });
}

}  // namespace warden::inspect
