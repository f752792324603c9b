#include "identity/tls.h"

#include <arpa/inet.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include <algorithm>
#include <cctype>
#include <cstdio>
#include <string>

namespace warden::identity {

namespace {

// Resumable sessions kept per listener and snapshot (~1.5 KB each with a client certificate):
// beyond it the oldest go first, and their clients make a full handshake.
constexpr long kSessionCacheEntries = 20'000;

std::string openssl_error() {
  const unsigned long e = ERR_get_error();
  ERR_clear_error();
  if (e == 0) return "unknown OpenSSL error";
  char buf[256];
  ERR_error_string_n(e, buf, sizeof buf);
  return buf;
}

}  // namespace

std::shared_ptr<const ServerTls> ServerTls::load(const TlsSettings& settings, std::string& error) {
  ERR_clear_error();
  SSL_CTX* ctx = SSL_CTX_new(TLS_server_method());
  if (ctx == nullptr) {
    error = "cannot create a TLS context: " + openssl_error();
    return nullptr;
  }
  std::shared_ptr<ServerTls> tls(new ServerTls(ctx));
  // TLS 1.0 and 1.1 are deprecated (RFC 8996); compression invites CRIME; renegotiation by the
  // client is a denial-of-service lever and nothing here needs it.
  SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
  SSL_CTX_set_options(
      ctx, SSL_OP_NO_COMPRESSION | SSL_OP_NO_RENEGOTIATION | SSL_OP_CIPHER_SERVER_PREFERENCE);
  // Only forward-secret AEAD suites for TLS 1.2 (1.3's are all of that kind).
  if (SSL_CTX_set_cipher_list(ctx, "ECDHE+AESGCM:ECDHE+CHACHA20") != 1) {
    error = "cannot set the TLS 1.2 cipher suites: " + openssl_error();
    return nullptr;
  }
  if (SSL_CTX_use_certificate_chain_file(ctx, settings.cert_file.c_str()) != 1) {
    error = "cert_file '" + settings.cert_file + "' cannot be used: " + openssl_error();
    return nullptr;
  }
  if (SSL_CTX_use_PrivateKey_file(ctx, settings.key_file.c_str(), SSL_FILETYPE_PEM) != 1) {
    const unsigned long e = ERR_peek_last_error();
    if (ERR_GET_LIB(e) != ERR_LIB_X509 || ERR_GET_REASON(e) != X509_R_KEY_VALUES_MISMATCH) {
      error = "key_file '" + settings.key_file + "' cannot be used: " + openssl_error();
      return nullptr;
    }
  }
  if (SSL_CTX_check_private_key(ctx) != 1) {
    error = "key_file '" + settings.key_file + "' does not match cert_file '" + settings.cert_file +
            "'";
    ERR_clear_error();
    return nullptr;
  }
  if (!settings.client_ca_file.empty()) {
    if (SSL_CTX_load_verify_locations(ctx, settings.client_ca_file.c_str(), nullptr) != 1) {
      error = "client_ca_file '" + settings.client_ca_file + "' cannot be used: " + openssl_error();
      return nullptr;
    }
    // The CAs named in the CertificateRequest, so that a client with several picks the right one.
    if (STACK_OF(X509_NAME)* names = SSL_load_client_CA_file(settings.client_ca_file.c_str()))
      SSL_CTX_set_client_CA_list(ctx, names);
    SSL_CTX_set_verify(
        ctx, SSL_VERIFY_PEER | (settings.require_client_cert ? SSL_VERIFY_FAIL_IF_NO_PEER_CERT : 0),
        nullptr);
    // The session id context binds resumed sessions to this verification setting (OpenSSL
    // refuses to resume a verified session without one).
    static constexpr unsigned char kSidContext[] = "warden-client";
    SSL_CTX_set_session_id_context(ctx, kSidContext, sizeof kSidContext - 1);
    tls->verifies_clients_ = true;
  }
  if (!settings.crl_file.empty()) {
    if (settings.client_ca_file.empty()) {
      error = "crl_file needs client_ca_file";
      return nullptr;
    }
    FILE* f = std::fopen(settings.crl_file.c_str(), "rb");
    X509_CRL* crl = f ? PEM_read_X509_CRL(f, nullptr, nullptr, nullptr) : nullptr;
    if (f && !crl) {
      ERR_clear_error();
      std::rewind(f);
      crl = d2i_X509_CRL_fp(f, nullptr);
    }
    if (f) std::fclose(f);
    if (!crl) {
      error = "crl_file '" + settings.crl_file + "' cannot be read: " + openssl_error();
      return nullptr;
    }
    X509_STORE* store = SSL_CTX_get_cert_store(ctx);
    X509_STORE_add_crl(store, crl);
    // Only the client certificate's own issuer must have a CRL: intermediate CAs are checked
    // against it when it covers them (CRL_CHECK_ALL would require one per CA).
    X509_STORE_set_flags(store, X509_V_FLAG_CRL_CHECK);
    tls->crl_ = crl;
  }
  // Sessions are resumed from this context's own cache, which every worker shares (one context
  // per snapshot, so a reload starts new sessions), not from stateless tickets: a stateless
  // ticket is decoded again on every resumption, client certificate included, and OpenSSL 3.0
  // decodes a public key through its provider decoders — 3.1M instructions of a 5.9M resumed
  // mTLS connection (bench/identity.sh). TLS 1.3 then sends stateful tickets (a session id).
  SSL_CTX_set_options(ctx, SSL_OP_NO_TICKET);
  SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_SERVER);
  SSL_CTX_sess_set_cache_size(ctx, kSessionCacheEntries);
  return tls;
}

ServerTls::~ServerTls() {
  X509_CRL_free(crl_);
  SSL_CTX_free(ctx_);
}

bool ServerTls::revoked(X509* cert) const {
  if (crl_ == nullptr || cert == nullptr) return false;
  X509_REVOKED* entry = nullptr;
  return X509_CRL_get0_by_cert(crl_, &entry, cert) == 1;
}

std::string certificate_device_id(X509* cert) {
  if (cert == nullptr) return {};
  std::string id;
  if (auto* sans = static_cast<GENERAL_NAMES*>(
          X509_get_ext_d2i(cert, NID_subject_alt_name, nullptr, nullptr))) {
    for (int i = 0; i < sk_GENERAL_NAME_num(sans) && id.empty(); ++i) {
      const GENERAL_NAME* n = sk_GENERAL_NAME_value(sans, i);
      if (n->type != GEN_URI) continue;
      const char* data =
          reinterpret_cast<const char*>(ASN1_STRING_get0_data(n->d.uniformResourceIdentifier));
      const std::string uri(
          data, static_cast<size_t>(ASN1_STRING_length(n->d.uniformResourceIdentifier)));
      if (uri.rfind("spiffe://", 0) == 0) id = uri;
    }
    GENERAL_NAMES_free(sans);
  }
  if (!id.empty()) return id;
  char cn[256];
  const int n =
      X509_NAME_get_text_by_NID(X509_get_subject_name(cert), NID_commonName, cn, sizeof cn);
  if (n > 0) return std::string(cn, static_cast<size_t>(n));
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  if (X509_digest(cert, EVP_sha256(), md, &len) != 1) return {};
  static constexpr char kHex[] = "0123456789abcdef";
  id = "sha256:";
  for (unsigned int k = 0; k < len; ++k) {
    id.push_back(kHex[md[k] >> 4]);
    id.push_back(kHex[md[k] & 15]);
  }
  return id;
}

ForwardedCert forwarded_cert(std::string_view xfcc) {
  // Elements are separated by commas outside quotes; the last one is the nearest proxy's.
  bool quoted = false;
  size_t start = 0;
  for (size_t i = 0; i < xfcc.size(); ++i) {
    if (quoted && xfcc[i] == '\\') {
      ++i;  // an escaped character, perhaps a quote
      continue;
    }
    if (xfcc[i] == '"') quoted = !quoted;
    if (xfcc[i] == ',' && !quoted) start = i + 1;
  }
  const std::string_view element = xfcc.substr(start);
  ForwardedCert out;
  std::string uri;
  size_t i = 0;
  while (i < element.size()) {
    while (i < element.size() && (element[i] == ' ' || element[i] == ';')) ++i;
    const size_t eq = element.find('=', i);
    if (eq == std::string_view::npos) break;
    const std::string_view key = element.substr(i, eq - i);
    std::string value;
    i = eq + 1;
    if (i < element.size() && element[i] == '"') {
      // Inside quotes only \" is an escape (of the XFCC syntax); any other backslash belongs
      // to the value (a Subject's RFC 2253 escapes, "OU=Kiosks\, Lobby").
      for (++i; i < element.size() && element[i] != '"'; ++i) {
        if (element[i] == '\\' && i + 1 < element.size() && element[i + 1] == '"') ++i;
        value.push_back(element[i]);
      }
      ++i;
    } else {
      while (i < element.size() && element[i] != ';') value.push_back(element[i++]);
    }
    if (key == "URI" && value.rfind("spiffe://", 0) == 0) uri = value;
    if (key == "Subject") out.subject = value;
    if (key == "Hash") {
      out.malformed = value.size() != 64 || !std::all_of(value.begin(), value.end(), [](char c) {
                        return std::isxdigit(static_cast<unsigned char>(c)) != 0;
                      });
      std::transform(value.begin(), value.end(), value.begin(),
                     [](char c) { return static_cast<char>(std::tolower(c)); });
      out.hash = std::move(value);
    }
  }
  if (!uri.empty()) {
    out.device_id = std::move(uri);
  } else if (std::string cn = subject_attribute(out.subject, "CN"); !cn.empty()) {
    out.device_id = std::move(cn);
  } else if (!out.hash.empty() && !out.malformed) {
    out.device_id = "sha256:" + out.hash;
  }
  return out;
}

std::string certificate_subject(X509* cert) {
  if (cert == nullptr) return {};
  BIO* bio = BIO_new(BIO_s_mem());
  if (bio == nullptr) return {};
  std::string out;
  if (X509_NAME_print_ex(bio, X509_get_subject_name(cert), 0, XN_FLAG_RFC2253) >= 0) {
    char* data = nullptr;
    const long n = BIO_get_mem_data(bio, &data);
    if (n > 0) out.assign(data, static_cast<size_t>(n));
  }
  BIO_free(bio);
  return out;
}

std::string subject_attribute(std::string_view subject, std::string_view key) {
  size_t i = 0;
  while (i < subject.size()) {
    // One attribute: TYPE=value up to the next unescaped ',' or '+'.
    const size_t eq = subject.find('=', i);
    if (eq == std::string_view::npos) return {};
    std::string_view type = subject.substr(i, eq - i);
    while (!type.empty() && type.front() == ' ') type.remove_prefix(1);
    std::string value;
    size_t j = eq + 1;
    for (; j < subject.size() && subject[j] != ',' && subject[j] != '+'; ++j) {
      if (subject[j] == '\\' && j + 1 < subject.size()) {
        ++j;
        auto nibble = [](char c) {
          if (c >= '0' && c <= '9') return c - '0';
          if (c >= 'a' && c <= 'f') return c - 'a' + 10;
          if (c >= 'A' && c <= 'F') return c - 'A' + 10;
          return -1;
        };
        if (j + 1 < subject.size() && nibble(subject[j]) >= 0 && nibble(subject[j + 1]) >= 0) {
          value.push_back(static_cast<char>(nibble(subject[j]) * 16 + nibble(subject[j + 1])));
          ++j;
          continue;
        }
      }
      value.push_back(subject[j]);
    }
    if (type.size() == key.size() &&
        std::equal(type.begin(), type.end(), key.begin(), [](char a, char b) {
          return std::tolower(static_cast<unsigned char>(a)) ==
                 std::tolower(static_cast<unsigned char>(b));
        })) {
      return value;
    }
    i = j + 1;
  }
  return {};
}

bool is_loopback_host(const std::string& host) {
  if (host == "localhost") return true;
  unsigned char bytes[16];
  if (inet_pton(AF_INET, host.c_str(), bytes) == 1) return bytes[0] == 127;
  if (inet_pton(AF_INET6, host.c_str(), bytes) == 1) {
    static constexpr unsigned char kLoopback6[16] = {0, 0, 0, 0, 0, 0, 0, 0,
                                                     0, 0, 0, 0, 0, 0, 0, 1};
    return std::equal(bytes, bytes + 16, kLoopback6);
  }
  return false;
}

}  // namespace warden::identity
