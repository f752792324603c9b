// Audit: a tamper-evident record of every decision, written off the hot path by its own thread.
//
// Each instance keeps its own hash chain (chain id = instance id) and a Merkle tree over it
// (merkle.h); one writer per chain (the store's lock). Records are committed in batches:
// `batched` commits within 100 ms (a crash loses at most that window); `strict` makes the
// request wait until its record is committed before its response completes. When the store
// fails, `strict` refuses new requests (503) until it recovers; `batched` buffers up to a bound,
// then refuses too. A request reserves its record's place before it is answered, so no record
// is dropped silently. With a signing key, the writer signs a checkpoint every N records or T
// seconds and at shutdown (checkpoint.h) and hands it to the log and the witnesses.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <tuple>
#include <unordered_set>
#include <vector>

#include "audit/checkpoint.h"
#include "audit/merkle.h"
#include "audit/record.h"

namespace warden::audit {

enum class Durability { kBatched, kStrict };

struct StoredRow {
  std::string chain;
  int64_t seq = 0;
  std::string prev_hash;
  std::string hash;
  std::string record;  // canonical JSON
};

// What one commit adds to a chain: records, the Merkle subtrees they complete, checkpoints.
struct Batch {
  std::vector<StoredRow> rows;
  std::vector<merkle::Node> nodes;
  std::vector<std::pair<int64_t, std::string>> checkpoints;  // (seq, one-line JSON)
  std::vector<AttrSet> attrs;  // attribute sets the records refer to (v6), new or not
};

// Where verification of a chain starts once older records were archived: the signed checkpoint
// at the cut and the Merkle frontier there (so later roots and proofs do not change).
struct Anchor {
  int64_t seq = 0;
  std::string checkpoint;
  std::vector<merkle::Node> frontier;
};

// A place records are kept. Implementations: SQLite (embedded default), PostgreSQL.
// Tables: audit (records), audit_tree (perfect Merkle subtrees of level >= 1; leaves are hashed
// from their records), audit_checkpoint, audit_cosignature, audit_anchor, audit_attrs (the
// attribute sets v6 records refer to, by hash; shared by chains, never removed).
class Store {
 public:
  virtual ~Store() = default;
  // Opens, creating the store (`must_exist` = false: the gateway) or failing when there is none
  // (the commands: verifying a missing path must not create an empty store and say ok).
  virtual bool open(std::string& error) = 0;
  // Takes the one-writer lock for `chain` (held until the store is closed); false with a clear
  // message when another process holds it.
  virtual bool lock(const std::string& chain, std::string& error) = 0;
  // The head of `chain`: last seq and hash (0 and "" when empty).
  virtual bool head(const std::string& chain, int64_t& seq, std::string& hash,
                    std::string& error) = 0;
  // Appends everything in one transaction.
  virtual bool append(const std::string& chain, const Batch& batch, std::string& error) = 0;
  // Reads rows in (chain, seq) order; `visit` returns false to stop.
  virtual bool scan(const std::function<bool(const StoredRow&)>& visit, std::string& error) = 0;
  // Rows of one chain with seq >= from, in order.
  virtual bool scan_chain(const std::string& chain, int64_t from,
                          const std::function<bool(const StoredRow&)>& visit,
                          std::string& error) = 0;
  virtual std::optional<StoredRow> row(const std::string& chain, int64_t seq) = 0;
  // A stored subtree (level >= 1).
  virtual std::optional<Digest> tree_node(const std::string& chain, int level, int64_t index) = 0;
  // Checkpoints of `chain` (all chains when empty) in seq order, one-line JSON each.
  virtual bool checkpoints(const std::string& chain,
                           const std::function<void(const std::string&)>& visit,
                           std::string& error) = 0;
  // A witness's countersignature of the checkpoint at `seq`: `text` is that checkpoint with the
  // countersignature in it — the witness's own copy of the signed body, so rewriting and
  // re-signing the stored checkpoint later does not change what the witness signed. One row per
  // (chain, seq, witness key); a repeat is ignored.
  virtual bool add_cosignature(const std::string& chain, int64_t seq,
                               const std::string& witness_key, const std::string& text,
                               std::string& error) = 0;
  // Countersigned checkpoints of `chain` (all chains when empty) in seq order, one-line JSON.
  virtual bool cosignatures(const std::string& chain,
                            const std::function<void(const std::string&)>& visit,
                            std::string& error) = 0;
  virtual std::optional<Anchor> anchor(const std::string& chain) = 0;
  // The attribute set stored under `hash` (audit_attrs), as stored: the caller checks its hash.
  virtual std::optional<std::string> attrs(const std::string& hash) = 0;
  // (chain, seq) of the records whose request id is `id`.
  virtual std::vector<std::pair<std::string, int64_t>> find(const std::string& id) = 0;
  // Every chain with records, checkpoints or an anchor.
  virtual std::vector<std::string> chains() = 0;
  // Archiving: records the anchor, then deletes records <= anchor.seq in small transactions
  // (the gateway keeps writing meanwhile) and the subtrees, checkpoints and countersignatures
  // no longer needed (those at the cut stay: the anchor's checkpoint carries them too).
  virtual bool cut(const std::string& chain, const Anchor& anchor, std::string& error) = 0;
};

std::unique_ptr<Store> open_sqlite(const std::string& path, bool strict, bool must_exist = false);
// `conninfo`: a libpq connection string ("host=127.0.0.1 dbname=warden user=…").
std::unique_ptr<Store> open_postgres(const std::string& conninfo);

// A stored record in its full canonical form (expand_record with the store's attribute sets,
// remembered across calls); false, with `error`, when a set is missing or altered.
class Expander {
 public:
  explicit Expander(Store& store) : store_(store) {}
  bool operator()(std::string_view stored, std::string& out, std::string& error);

 private:
  Store& store_;
  std::map<std::string, std::string> known_;
};

// The hash of subtree (level, index) of `chain`: a leaf from its record (or the anchor's
// frontier once archived), a larger subtree from audit_tree.
merkle::NodeSource node_source(Store& store, const std::string& chain);
// The frontier of the first `size` leaves from the store; nullopt when a subtree is missing.
std::optional<merkle::Frontier> load_frontier(Store& store, const std::string& chain, int64_t size);
std::string frontier_text(const std::vector<merkle::Node>& nodes);
// One JSON log line on stderr, as the server writes them.
void log_line(std::string_view level, const std::string& msg);  // "level:index:hex …"
std::optional<std::vector<merkle::Node>> parse_frontier(std::string_view text);

// Where signed checkpoints go besides the store and the log: the witnesses (audit/witness.h,
// built into the server: it speaks HTTP). Called on the audit thread; must not block.
class CheckpointSink {
 public:
  virtual ~CheckpointSink() = default;
  virtual void offer(int64_t seq, std::string text) = 0;
  virtual uint64_t failures() const = 0;
  // Called with each countersigned copy once it is in the store (the witness's fingerprint, the
  // seq, the copy's one-line JSON), on the sink's own thread: the writer serves the newest per
  // witness (GET /audit/checkpoint) without reading the store.
  using Countersigned = std::function<void(const std::string&, int64_t, const std::string&)>;
  virtual void on_countersigned(Countersigned) {}
};

// Signed checkpoints (off without a key).
struct CheckpointOptions {
  std::shared_ptr<const Key> key;           // null: no checkpoints
  std::shared_ptr<const Key> previous_key;  // set while rotating: the next one is signed by both
  int64_t every_records = 1000;
  int64_t every_ms = 10'000;
  bool log = true;                       // one line on stdout per checkpoint
  std::unique_ptr<CheckpointSink> sink;  // witnesses, or null
};

// Refusals at the door (Writer::refused), counted: one entry per (address, reason, status) for
// the window that began with the first of them, at most kKeys entries a window (the rest are
// counted under address "*"). Times are given, not read: the caller owns the clock.
class DoorCounter {
 public:
  static constexpr size_t kKeys = 256;
  static constexpr int64_t kWindowMs = 1000;
  void count(std::string_view address, std::string_view reason, int status, int64_t now_ms);
  // One record per entry (decision "refused", `count`, `remote_address`, the reason as `error`,
  // ts_ms the first refusal), once the window has lasted kWindowMs — or now, with `all` (the
  // last batch) — and a new window begins; empty before.
  std::vector<Record> take(const std::string& instance, int64_t now_ms, bool all);

 private:
  struct Count {
    int64_t first_ms = 0, count = 0;
  };
  std::mutex mu_;
  std::map<std::tuple<std::string, std::string, int>, Count> counts_;
  int64_t since_ms_ = 0;  // the first refusal of the window
};

class Writer {
 public:
  Writer(std::unique_ptr<Store> store, Durability durability, std::string instance,
         size_t max_buffer, CheckpointOptions checkpoints = {});
  ~Writer();  // commits what is queued, signs a last checkpoint, then stops
  Writer(const Writer&) = delete;
  Writer& operator=(const Writer&) = delete;

  bool start(std::string& error);

  // New checkpoint settings from a reload, taken up by the audit thread before its next batch:
  // the intervals, the log line, the witnesses, and the key. A new key is a rotation: its first
  // checkpoint is signed by the old key too. Turning checkpoints on or off takes a restart (the
  // store's newest checkpoint must be checked against the key at start).
  void reconfigure(CheckpointOptions next);

  // A record's place in the queue, taken before the request is answered: a reserved record is
  // never refused (so a client never gets an answer whose record is dropped). Release it with
  // submit() or unreserve().
  bool reserve();
  void unreserve();

  // Shared between a strict request and the writer: the request may abandon its record when the
  // commit takes too long (the client then gets 503, and the record says 503), but only while
  // the writer is not committing it (then the request waits for that attempt's outcome).
  struct Ticket {
    enum State : int { kQueued, kCommitting, kAbandoned, kCommitted };
    std::atomic<int> state{kQueued};
    // CAS kQueued -> kAbandoned: true when the record will be written with status 503.
    bool abandon() {
      int s = kQueued;
      return state.compare_exchange_strong(s, kAbandoned);
    }
  };

  // Queues `record`; `committed` runs on the writer thread once it is durable. Returns false
  // when the record is refused (store failing in strict mode, or the buffer is full) — never
  // when `reserved` (a place taken with reserve()).
  bool submit(Record record, std::function<void()> committed, bool reserved = false,
              std::shared_ptr<Ticket> ticket = nullptr);
  // A request refused at the door: before a principal existed (no or a bad credential, an
  // unknown route or method), for its framing (400, 408, 413, 431), or its connection (the
  // per-address or total connection limit, a failed TLS handshake: status 0, no HTTP answer).
  // Counted, not queued: the audit thread writes one record per (address, reason, status) and
  // second, with the count, for at most DoorCounter::kKeys a second (the rest under address "*"),
  // so an unauthenticated flood can fill neither the store nor the queue (DoorCounter). Never
  // refused.
  void refused(std::string_view address, std::string_view reason, int status);

  // Waits until every record submitted so far is committed (and its callback has run), or the
  // store has failed 50 times meanwhile. At shutdown: before the executors the callbacks post to
  // are destroyed.
  void flush();
  // From now on no record's callback runs (a record committed later is still written); returns
  // once a callback that is running has returned. At shutdown, after flush(): when flush() gave
  // up on a failing store, a record committed later must not post to destroyed executors.
  void close_callbacks();
  // Whether new requests may be accepted (fail closed otherwise).
  bool accepting() const;
  Durability durability() const { return durability_; }

  uint64_t committed() const { return committed_.load(); }
  uint64_t failures() const { return failures_.load(); }
  size_t queued() const;
  // The newest signed checkpoint (one-line JSON), "" before the first, with the witnesses'
  // countersignatures of it ("cosignatures") and, for each witness whose newest
  // countersignature is of an older checkpoint, that countersigned copy ("countersigned": an
  // array of checkpoints in the same form) — what GET /audit/checkpoint serves (docs/AUDIT.md).
  std::string latest_checkpoint() const;
  uint64_t checkpoints() const { return checkpoints_.load(); }
  uint64_t witness_failures() const;

 private:
  struct Item {
    Record record;
    std::function<void()> committed;
    std::shared_ptr<Ticket> ticket;
  };
  void run();
  // Moves the refusals counted at the door into `batch` once their second has passed (or all,
  // at the end), one record each.
  void take_refusals(std::vector<Item>& batch, bool all);
  void take_checkpoint_options(CheckpointOptions next);
  void chain_batch(std::vector<Item>& batch, Batch& out, merkle::Frontier& frontier, bool final);
  std::string make_checkpoint(int64_t seq, const std::string& hash, const merkle::Frontier& f);

  std::unique_ptr<Store> store_;
  Durability durability_;
  std::string instance_;
  size_t max_buffer_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::deque<Item> queue_;
  std::optional<CheckpointOptions> next_cp_;  // from reconfigure(), for the audit thread
  size_t reserved_ = 0;
  bool stopping_ = false;
  std::atomic<bool> healthy_{true};
  std::atomic<uint64_t> committed_{0};
  std::atomic<uint64_t> submitted_{0};
  std::atomic<uint64_t> failures_{0};
  int64_t seq_ = 0;
  std::string hash_;
  merkle::Frontier frontier_;
  CheckpointOptions cp_;
  int64_t cp_seq_ = 0;  // seq of the newest checkpoint
  std::chrono::steady_clock::time_point cp_time_;
  bool rotating_ = false;
  mutable std::mutex cp_mu_;  // latest_, and cp_.sink while a reload replaces it
  std::string latest_;
  // Per witness fingerprint: its newest countersigned copy (seq, one-line JSON).
  std::map<std::string, std::pair<int64_t, std::string>> countersigned_;
  void keep_countersigned(const std::string& witness, int64_t seq, const std::string& copy);
  uint64_t past_witness_failures_ = 0;  // of sinks a reload replaced
  std::atomic<uint64_t> checkpoints_{0};
  std::mutex callbacks_mu_;  // held while the audit thread runs a batch's callbacks
  bool callbacks_closed_ = false;
  DoorCounter door_;
  std::unordered_set<std::string> stored_sets_;  // attribute sets known to be in the store
  std::thread thread_;
};

}  // namespace warden::audit
