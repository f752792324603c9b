// TLS on the client listener: the server certificate and key (and, for mutual TLS, the CAs a
// client certificate must chain to) loaded into an OpenSSL context once per configuration
// snapshot. Loading happens on the control plane; a connection only takes a reference, so a
// reload (SIGHUP) that swaps the certificate serves new connections with it while open ones keep
// the context they started with. OpenSSL only: no Asio here (see ARCHITECTURE.md, modules).
#pragma once

#include <memory>
#include <string>
#include <string_view>

typedef struct ssl_ctx_st SSL_CTX;    // NOLINT: OpenSSL's own spelling
typedef struct x509_st X509;          // NOLINT
typedef struct X509_crl_st X509_CRL;  // NOLINT

namespace warden::identity {

struct TlsSettings {
  std::string cert_file;  // PEM: the server certificate, then its chain
  std::string key_file;   // PEM: its private key
  // Mutual TLS: client certificates must chain to these CAs (PEM); `require_client_cert` makes a
  // connection without one fail its handshake, else it is a connection without a device.
  std::string client_ca_file;
  std::string crl_file;  // PEM or DER certificate revocation list of the client CA
  bool require_client_cert = false;
};

class ServerTls {
 public:
  // Loads and checks the files (the key must match the certificate). Null with `error` set when
  // they cannot serve: `warden check` and a reload report it, and nothing half-loaded is used.
  static std::shared_ptr<const ServerTls> load(const TlsSettings& settings, std::string& error);

  ~ServerTls();
  ServerTls(const ServerTls&) = delete;
  ServerTls& operator=(const ServerTls&) = delete;

  SSL_CTX* context() const { return ctx_; }
  bool verifies_clients() const { return verifies_clients_; }

  // Whether a client certificate (verified at its handshake) is on the CRL. A resumed session
  // is not verified again by OpenSSL, so each connection asks this of its peer's certificate.
  bool revoked(X509* cert) const;

 private:
  explicit ServerTls(SSL_CTX* ctx) : ctx_(ctx) {}
  SSL_CTX* ctx_;
  X509_CRL* crl_ = nullptr;
  bool verifies_clients_ = false;
};

using ServerTlsPtr = std::shared_ptr<const ServerTls>;

// The device a client certificate names: its SPIFFE ID (a URI SAN spiffe://…), else its
// subject's common name, else "sha256:" and the hex SHA-256 of the certificate (what a fronting
// proxy sends as Hash), so a certificate always names a device.
std::string certificate_device_id(X509* cert);

// The certificate's subject as RFC 2253 text ("CN=laptop-1,OU=Sales,O=Acme"), for labels.
std::string certificate_subject(X509* cert);

// The value of attribute `key` (O, OU, C, …) in RFC 2253 text, the first one when repeated;
// empty when absent. Escapes (\, and \XX) are undone.
std::string subject_attribute(std::string_view subject, std::string_view key);

// What an Envoy-style X-Forwarded-Client-Cert value says of the client certificate.
struct ForwardedCert {
  std::string device_id;   // URI=spiffe://… else Subject's CN else "sha256:" + Hash; empty: none
  std::string subject;     // Subject="…", RFC 2253
  std::string hash;        // Hash=…: hex SHA-256 of the certificate, lower case
  bool malformed = false;  // a Hash that is not 64 hex digits
};

// Reads the value's last element only. Each proxy on the way appends its own element, so the
// last is the one the proxy nearest to the gateway (a configured forwarded_cert_from address)
// wrote about the client it verified; earlier elements were written by proxies further out
// about their own peers, and nothing here can vouch for them.
ForwardedCert forwarded_cert(std::string_view xfcc);

// Whether `host` (a listener's host as configured) is a loopback address: plain HTTP is allowed
// only there, where no one between client and gateway can read a credential.
bool is_loopback_host(const std::string& host);

}  // namespace warden::identity
