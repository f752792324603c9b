// Ids and signed output bound to the deployment that made them (inspect/binding.h).
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/json_writer.h"
#include "inspect/binding.h"

namespace warden::inspect {
namespace {

using Kind = Binder::Kind;
using Check = Binder::Check;

const Binder kBinder(std::string(32, 'k'));

TEST(Binder, UnbindsWhatItBound) {
  const std::string id = kBinder.bind(Kind::kResponse, "dep-a", "alice", "resp_123");
  EXPECT_EQ(id.rfind("resp_w1.", 0), 0u) << id;
  std::string deployment, value;
  ASSERT_EQ(kBinder.unbind(Kind::kResponse, "alice", id, deployment, value), Check::kValid);
  EXPECT_EQ(deployment, "dep-a");
  EXPECT_EQ(value, "resp_123");
  // Deterministic: the same value is bound the same way each time (a GET repeats the id).
  EXPECT_EQ(id, kBinder.bind(Kind::kResponse, "dep-a", "alice", "resp_123"));
}

// The MAC is HMAC-SHA-256 (RFC 2104) of the length-prefixed parts, computed from keyed states
// hashed once: it equals OpenSSL's one-shot HMAC() of the same input, truncated to 16 bytes.
TEST(Binder, MacIsHmacSha256) {
  const std::string key = "0123456789abcdef0123456789abcdef";
  const std::string id = Binder(key).bind(Kind::kResponse, "dep-a", "alice", "resp_123");
  // The kind, the three lengths (8 bytes each, little-endian), then the three parts.
  std::string input = "r";
  for (const std::string_view part : {"dep-a", "alice", "resp_123"}) {
    for (int i = 0; i < 8; ++i) input += static_cast<char>(i == 0 ? part.size() : 0);
  }
  input += "dep-aaliceresp_123";
  unsigned char digest[32];
  unsigned int len = 0;
  HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()),
       reinterpret_cast<const unsigned char*>(input.data()), input.size(), digest, &len);
  // base64url of the first 16 bytes, as the id's third part.
  static constexpr char kAlphabet[] =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
  std::string mac;
  uint32_t acc = 0;
  int bits = 0;
  for (int i = 0; i < 16; ++i) {
    acc = (acc << 8) | digest[i];
    bits += 8;
    while (bits >= 6) mac += kAlphabet[(acc >> (bits -= 6)) & 0x3f];
  }
  if (bits > 0) mac += kAlphabet[(acc << (6 - bits)) & 0x3f];
  const size_t first = id.find('.', 8);
  EXPECT_EQ(id.substr(first + 1, id.find('.', first + 1) - first - 1), mac) << id;
}

TEST(Binder, RefusesAnotherScopeKindKeyOrAnyChangedByte) {
  const std::string id = kBinder.bind(Kind::kResponse, "dep-a", "alice", "resp_123");
  std::string deployment, value;
  EXPECT_EQ(kBinder.unbind(Kind::kResponse, "bob", id, deployment, value), Check::kForged);
  EXPECT_EQ(Binder(std::string(32, 'o')).unbind(Kind::kResponse, "alice", id, deployment, value),
            Check::kForged);
  const std::string sig = kBinder.bind(Kind::kSigned, "dep-a", "", "EqQBCgIYAhIM");
  EXPECT_EQ(kBinder.unbind(Kind::kResponse, "", sig, deployment, value), Check::kNotBound);
  for (size_t i = 0; i < id.size(); ++i) {
    for (const char c : {'A', '.', '_', 'z'}) {
      std::string changed = id;
      if (changed[i] == c) continue;
      changed[i] = c;
      const Check check = kBinder.unbind(Kind::kResponse, "alice", changed, deployment, value);
      EXPECT_NE(check, Check::kValid) << changed;
    }
  }
  // A value that never was bound is not Warden's at all.
  EXPECT_EQ(kBinder.unbind(Kind::kResponse, "alice", "resp_123", deployment, value),
            Check::kNotBound);
  EXPECT_EQ(kBinder.unbind(Kind::kSigned, "", "wsig1.", deployment, value), Check::kForged);
}

TEST(Binder, MovingAValueToAnotherDeploymentBreaksItsMac) {
  const std::string sig = kBinder.bind(Kind::kSigned, "dep-a", "", "c2ln");
  // The deployment's name re-encoded for dep-b, the MAC and value kept.
  const std::string b = kBinder.bind(Kind::kSigned, "dep-b", "", "c2ln");
  const std::string moved = b.substr(0, b.find('.', 6)) + sig.substr(sig.find('.', 6));
  std::string deployment, value;
  EXPECT_EQ(kBinder.unbind(Kind::kSigned, "", moved, deployment, value), Check::kForged);
}

TEST(BindAnswer, WrapsResponseIdsAndEncryptedReasoningOnly) {
  const std::string body =
      R"({"id":"resp_1","object":"response","previous_response_id":"resp_0","output":[)"
      R"({"type":"reasoning","id":"rs_1","encrypted_content":"gAAA\/x=="},)"
      R"({"type":"message","id":"msg_1","content":[{"type":"output_text","text":"hi"}]}]})";
  std::string out;
  ASSERT_EQ(bind_answer(kBinder, BindApi::kResponses, "dep-a", "alice", body, out),
            Bound::kChanged);
  const std::string id = kBinder.bind(Kind::kResponse, "dep-a", "alice", "resp_1");
  const std::string prev = kBinder.bind(Kind::kResponse, "dep-a", "alice", "resp_0");
  const std::string enc = kBinder.bind(Kind::kSigned, "dep-a", "", "gAAA/x==");  // unescaped
  EXPECT_NE(out.find(json_string(id)), std::string::npos) << out;
  EXPECT_NE(out.find(json_string(prev)), std::string::npos) << out;
  EXPECT_NE(out.find(json_string(enc)), std::string::npos) << out;
  EXPECT_NE(out.find(R"("id":"rs_1")"), std::string::npos) << out;
  EXPECT_NE(out.find(R"("id":"msg_1")"), std::string::npos) << out;
  // Events: the response object under `response`, an item under `item`; text deltas untouched
  // (and not walked).
  const std::string created = R"({"type":"response.created","response":{"id":"resp_1"}})";
  ASSERT_EQ(bind_answer(kBinder, BindApi::kResponses, "dep-a", "alice", created, out),
            Bound::kChanged);
  EXPECT_EQ(out, R"({"type":"response.created","response":{"id":)" + json_string(id) + "}}");
  const std::string delta =
      R"({"type":"response.output_text.delta","item_id":"msg_1","delta":"x"})";
  EXPECT_EQ(bind_answer(kBinder, BindApi::kResponses, "dep-a", "alice", delta, out),
            Bound::kUnchanged);
}

TEST(BindAnswer, WrapsSignaturesAndRedactedThinkingOfMessages) {
  const std::string body =
      R"({"id":"msg_1","content":[{"type":"thinking","thinking":"t","signature":"c2ln"},)"
      R"({"type":"redacted_thinking","data":"cmVk"},{"type":"text","text":"hi"}]})";
  std::string out;
  ASSERT_EQ(bind_answer(kBinder, BindApi::kMessages, "dep-a", "alice", body, out), Bound::kChanged);
  EXPECT_NE(out.find(json_string(kBinder.bind(Kind::kSigned, "dep-a", "", "c2ln"))),
            std::string::npos);
  EXPECT_NE(out.find(json_string(kBinder.bind(Kind::kSigned, "dep-a", "", "cmVk"))),
            std::string::npos);
  EXPECT_NE(out.find(R"("id":"msg_1")"), std::string::npos);  // a message id is not bound
  const std::string delta =
      R"({"type":"content_block_delta","index":0,"delta":{"type":"signature_delta","signature":"c2ln"}})";
  ASSERT_EQ(bind_answer(kBinder, BindApi::kMessages, "dep-a", "alice", delta, out),
            Bound::kChanged);
  // The empty signature of content_block_start stays empty.
  const std::string start =
      R"({"type":"content_block_start","index":0,"content_block":{"type":"thinking","thinking":"","signature":""}})";
  EXPECT_EQ(bind_answer(kBinder, BindApi::kMessages, "dep-a", "alice", start, out),
            Bound::kUnchanged);
}

TEST(UnbindRequest, UnwrapsAndNamesTheDeployment) {
  const std::string id = kBinder.bind(Kind::kResponse, "dep-a", "alice", "resp_1");
  const std::string enc = kBinder.bind(Kind::kSigned, "dep-a", "", "gAAA");
  const std::string body = R"({"model":"m","previous_response_id":)" + json_string(id) +
                           R"(,"input":[{"type":"reasoning","encrypted_content":)" +
                           json_string(enc) + R"(},{"role":"user","content":"hi"}]})";
  const RequestBinding b = unbind_request(kBinder, BindApi::kResponses, "alice", body);
  ASSERT_EQ(b.status, RequestBinding::kOk);
  EXPECT_EQ(b.deployment, "dep-a");
  EXPECT_EQ(apply_splices(body, b.splices),
            R"({"model":"m","previous_response_id":"resp_1","input":[{"type":"reasoning",)"
            R"("encrypted_content":"gAAA"},{"role":"user","content":"hi"}]})");
  ASSERT_EQ(b.signed_offsets.size(), 1u);
  EXPECT_EQ(body.substr(b.signed_offsets[0], 7), "\"wsig1.");
}

TEST(UnbindRequest, RefusesForeignIdsAlteredValuesAndTwoDeployments) {
  const std::string id = kBinder.bind(Kind::kResponse, "dep-a", "alice", "resp_1");
  auto status = [](const std::string& body, BindApi api = BindApi::kResponses) {
    return unbind_request(kBinder, api, "alice", body).status;
  };
  EXPECT_EQ(status(R"({"previous_response_id":"resp_1"})"), RequestBinding::kForgedId);
  EXPECT_EQ(status(R"({"previous_response_id":)" + json_string(id + "x") + "}"),
            RequestBinding::kForgedId);
  // An escaped key is the same key.
  EXPECT_EQ(status(R"({"previous\u005fresponse_id":"resp_1"})"), RequestBinding::kForgedId);
  EXPECT_EQ(unbind_request(kBinder, BindApi::kResponses, "bob",
                           R"({"previous_response_id":)" + json_string(id) + "}")
                .status,
            RequestBinding::kForgedId);
  const std::string other = kBinder.bind(Kind::kSigned, "dep-b", "", "gAAA");
  EXPECT_EQ(
      status(R"({"previous_response_id":)" + json_string(id) +
             R"(,"input":[{"type":"reasoning","encrypted_content":)" + json_string(other) + "}]}"),
      RequestBinding::kMixed);
  const std::string sig = kBinder.bind(Kind::kSigned, "dep-a", "", "c2ln");
  EXPECT_EQ(status(R"({"messages":[{"role":"assistant","content":[{"type":"thinking",)"
                   R"("thinking":"t","signature":)" +
                       json_string(sig + "A") + "}]}]}",
                   BindApi::kMessages),
            RequestBinding::kForgedSigned);
  // A signature Warden never bound stays as it is: uninspectable.signed, for the policy.
  const RequestBinding plain = unbind_request(
      kBinder, BindApi::kMessages, "alice",
      R"({"messages":[{"role":"assistant","content":[{"type":"thinking","thinking":"t","signature":"c2ln"}]}]})");
  EXPECT_EQ(plain.status, RequestBinding::kOk);
  EXPECT_TRUE(plain.deployment.empty());
  EXPECT_TRUE(plain.splices.empty());
}

TEST(UnbindRequest, ExemptsBoundSignedValuesFromTheScan) {
  BodyScan scan;
  scan.counts["uninspectable.signed"] = 2;
  scan.counts["secret.generic"] = 1;
  BodyString s;
  s.raw_begin = 40;
  s.findings.push_back({"secret.generic", 0, 4, 1});
  scan.strings.push_back(s);
  RequestBinding b;
  b.signed_offsets = {40};
  exempt_bound(scan, b);
  EXPECT_EQ(scan.counts.size(), 1u);
  EXPECT_EQ(scan.counts["uninspectable.signed"], 1u);  // the one not bound stays
  EXPECT_TRUE(scan.strings.empty());
}

TEST(BindingKey, IsMadeOnceAndKeptPrivate) {
  const std::string dir =
      std::filesystem::temp_directory_path() / ("warden-binding-" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  const std::string path = dir + "/key";
  std::string error;
  const std::string made = load_binding_key(path, error);
  ASSERT_EQ(made.size(), Binder::kKeyBytes) << error;
  struct stat st {};
  ASSERT_EQ(::stat(path.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  EXPECT_EQ(load_binding_key(path, error), made);  // a restart keeps it
  ::chmod(path.c_str(), 0644);
  EXPECT_TRUE(load_binding_key(path, error).empty());
  EXPECT_NE(error.find("chmod 600"), std::string::npos);
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace warden::inspect
