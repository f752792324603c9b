// Sends signed checkpoints to witnesses (built into the server library: it speaks HTTP with Beast,
// which stays out of the audit library): HTTP endpoints, run by someone else, that countersign a
// checkpoint only when it is consistent with the last one they accepted (an RFC 6962
// consistency proof comes with it) and keep their own copy. Its own thread and store
// connection: a slow or dead witness never holds the audit thread's commits (each call has a
// deadline; failures are counted and logged).
//
// POST <url>  {"checkpoint":{…one-line checkpoint…},"from":M,"proof":["hex",…]}
//   200 {"cosignature":{"key":"<fingerprint>","sig":"<base64 Ed25519 over the checkpoint's body>"}}
//       accepted; the countersigned checkpoint is kept in the store (audit_cosignature);
//   409 {"seq":M'}  the witness holds checkpoint M' (the client sends the proof from M' once more);
//   anything else: a failure.
#pragma once

#include <atomic>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "audit/audit.h"

namespace warden::audit {

class WitnessClient : public CheckpointSink {
 public:
  WitnessClient(std::vector<std::string> urls, int64_t timeout_ms, std::unique_ptr<Store> store,
                std::string chain);
  ~WitnessClient() override;  // sends the pending checkpoint (within the deadline), then stops
  // The newest checkpoint replaces one not yet sent: witnesses need only the latest.
  void offer(int64_t seq, std::string text) override;
  uint64_t failures() const override { return failures_.load(); }
  void on_countersigned(Countersigned f) override;
  uint64_t accepted() const { return accepted_.load(); }
  uint64_t cosigned() const { return cosigned_.load(); }

 private:
  void run();
  bool send(size_t witness, int64_t seq, const std::string& text);

  struct Target {
    std::string host, port, path, url;
    int64_t known = 0;  // the seq of the witness's latest checkpoint, 0 when not known
  };
  void keep_cosignature(const Target& t, int64_t seq, const std::string& text,
                        const std::string& answer);
  std::vector<Target> targets_;
  int64_t timeout_ms_;
  std::unique_ptr<Store> store_;
  std::string chain_;
  std::mutex mu_;
  std::condition_variable cv_;
  Countersigned countersigned_;  // under mu_
  int64_t pending_seq_ = -1;
  std::string pending_;
  bool stopping_ = false;
  std::atomic<uint64_t> failures_{0};
  std::atomic<uint64_t> accepted_{0};
  std::atomic<uint64_t> cosigned_{0};
  std::atomic<uint64_t> cosign_failures_{0};
  std::thread thread_;
};

}  // namespace warden::audit
