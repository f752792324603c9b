// The Merkle tree, its proofs and signed checkpoints, against references written from the RFC.
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <future>
#include <map>

#include "audit/audit.h"

namespace warden::audit {
namespace {

std::string leaf_data(int64_t i) {
  return "record " + std::to_string(i);
}

// MTH as RFC 6962 §2.1 defines it, recursively over the leaves themselves.
Digest reference_root(int64_t lo, int64_t hi) {
  if (hi - lo == 1) return merkle::leaf_hash(leaf_data(lo));
  int64_t k = 1;
  while (k * 2 < hi - lo) k *= 2;
  return merkle::node_hash(reference_root(lo, lo + k), reference_root(lo + k, hi));
}

// Every perfect subtree, as the store keeps them (leaves hashed from their records).
struct Tree {
  std::map<std::pair<int, int64_t>, Digest> nodes;
  merkle::Frontier frontier;
  explicit Tree(int64_t n) {
    for (int64_t i = 0; i < n; ++i) {
      const Digest leaf = merkle::leaf_hash(leaf_data(i));
      nodes[{0, i}] = leaf;
      frontier.append(leaf, [&](const merkle::Node& x) { nodes[{x.level, x.index}] = x.hash; });
    }
  }
  merkle::NodeSource source() const {
    return [this](int level, int64_t index) -> std::optional<Digest> {
      const auto it = nodes.find({level, index});
      if (it == nodes.end()) return std::nullopt;
      return it->second;
    };
  }
};

TEST(Merkle, RootsMatchTheRfcDefinitionForEverySize) {
  EXPECT_EQ(to_hex(merkle::Frontier().root()),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  for (int64_t n = 1; n <= 70; ++n) {
    const Tree t(n);
    EXPECT_EQ(t.frontier.root(), reference_root(0, n)) << n;
    EXPECT_EQ(merkle::root_of(n, t.source()), reference_root(0, n)) << n;
  }
}

TEST(Merkle, EveryInclusionProofVerifiesAndAnAlteredOneDoesNot) {
  for (int64_t n = 1; n <= 40; ++n) {
    const Tree t(n);
    const Digest root = t.frontier.root();
    for (int64_t m = 0; m < n; ++m) {
      const auto path = merkle::inclusion_proof(m, n, t.source());
      ASSERT_TRUE(path) << m << "/" << n;
      const Digest leaf = merkle::leaf_hash(leaf_data(m));
      EXPECT_TRUE(merkle::verify_inclusion(m, n, leaf, *path, root)) << m << "/" << n;
      EXPECT_FALSE(merkle::verify_inclusion(m, n, merkle::leaf_hash("forged"), *path, root));
      if (!path->empty()) {
        auto bad = *path;
        bad.back()[0] ^= 1;
        EXPECT_FALSE(merkle::verify_inclusion(m, n, leaf, bad, root));
      }
      if (n > 1) {
        EXPECT_FALSE(merkle::verify_inclusion((m + 1) % n, n, leaf, *path, root));
      }
    }
  }
}

TEST(Merkle, EveryConsistencyProofVerifiesAndFailsAgainstAnotherHistory) {
  for (int64_t n = 1; n <= 40; ++n) {
    const Tree t(n);
    for (int64_t m = 1; m <= n; ++m) {
      const auto proof = merkle::consistency_proof(m, n, t.source());
      ASSERT_TRUE(proof) << m << "/" << n;
      const Digest old_root = reference_root(0, m);
      EXPECT_TRUE(merkle::verify_consistency(m, n, old_root, t.frontier.root(), *proof))
          << m << "/" << n;
      // A rewritten first record: the old root is not a prefix of this tree.
      EXPECT_FALSE(
          merkle::verify_consistency(m, n, merkle::leaf_hash("other"), t.frontier.root(), *proof))
          << m << "/" << n;
    }
  }
}

TEST(Merkle, AFrontierRebuiltFromStoredSubtreesContinuesTheSameTree) {
  const Tree t(37);
  std::vector<merkle::Node> nodes;
  for (const auto& [level, index] : merkle::Frontier::layout(21))
    nodes.push_back({level, index, *t.source()(level, index)});
  merkle::Frontier f;
  ASSERT_TRUE(f.assign(21, nodes));
  EXPECT_FALSE(merkle::Frontier().assign(22, nodes));
  for (int64_t i = 21; i < 37; ++i) f.append(merkle::leaf_hash(leaf_data(i)));
  EXPECT_EQ(f.root(), t.frontier.root());
  EXPECT_EQ(parse_frontier(frontier_text(nodes))->size(), nodes.size());
}

class KeyFiles : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() /
           ("warden-keys-" + std::to_string(::getpid()) + "-" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::create_directories(dir_);
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }
  std::string path(const char* name) { return (dir_ / name).string(); }
  std::filesystem::path dir_;
};

TEST_F(KeyFiles, ACheckpointSignedWithOneKeyVerifiesWithItsPublicHalfOnly) {
  Key::generate(path("a"));
  Key::generate(path("b"));
  EXPECT_THROW(Key::generate(path("a")), std::runtime_error);  // never overwritten
  const Key a = Key::load_private(path("a"));
  const Key a_pub = Key::load_public(path("a.pub"));
  const Key b_pub = Key::load_public(path("b.pub"));
  EXPECT_EQ(a.fingerprint(), a_pub.fingerprint());
  Checkpoint c;
  c.chain = "gw \"1\"";
  c.seq = 42;
  c.hash = std::string(64, 'a');
  c.root = std::string(64, 'b');
  c.ts_ms = 1'790'000'000'000;
  c.sign(a);
  const auto back = parse_checkpoint(c.text());
  ASSERT_TRUE(back);
  EXPECT_EQ(back->chain, c.chain);
  EXPECT_EQ(back->seq, 42);
  EXPECT_EQ(back->key, a.fingerprint());
  ASSERT_EQ(back->signatures.size(), 1u);
  EXPECT_TRUE(a_pub.verify(back->body, back->signatures[0].sig));
  EXPECT_FALSE(b_pub.verify(back->body, back->signatures[0].sig));
  std::string altered = back->body;
  altered[altered.find("42")] = '3';
  EXPECT_FALSE(a_pub.verify(altered, back->signatures[0].sig));
  EXPECT_FALSE(parse_checkpoint("{\"checkpoint\":\"{}\",\"signatures\":[]}"));
}

TEST_F(KeyFiles, ASigningKeyOthersCanReadIsRefused) {
  Key::generate(path("k"));
  struct stat st {};
  ASSERT_EQ(::stat(path("k").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  ::chmod(path("k").c_str(), 0640);
  try {
    Key::load_private(path("k"));
    FAIL() << "a group-readable key was accepted";
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find("mode 0640"), std::string::npos) << e.what();
  }
  EXPECT_THROW(Key::load_private(path("missing")), std::runtime_error);
}

TEST_F(KeyFiles, TheWriterSignsEveryNRecordsAndAtShutdownAndARotationCarriesBothKeys) {
  Key::generate(path("old"));
  Key::generate(path("new"));
  const std::string db = path("audit.db");
  auto write = [&](int n, const char* key, const char* previous) {
    CheckpointOptions cp;
    cp.key = std::make_shared<const Key>(Key::load_private(path(key)));
    if (previous) cp.previous_key = std::make_shared<const Key>(Key::load_private(path(previous)));
    cp.every_records = 4;
    cp.every_ms = 3'600'000;
    cp.log = false;
    Writer w(open_sqlite(db, false), Durability::kBatched, "t", 1000, std::move(cp));
    std::string error;
    if (!w.start(error)) return error;
    std::promise<void> last;
    for (int i = 1; i <= n; ++i) {
      Record r;
      r.request_id = "r" + std::to_string(i);
      w.submit(std::move(r), i == n ? std::function<void()>([&] { last.set_value(); }) : nullptr);
    }
    last.get_future().wait();
    return std::string();
  };
  ASSERT_EQ(write(10, "old", nullptr), "");
  // A changed key without the old one named is refused: the rotation must be signed by both.
  EXPECT_NE(write(1, "new", nullptr).find("checkpoint key changed"), std::string::npos);
  ASSERT_EQ(write(3, "new", "old"), "");
  auto store = open_sqlite(db, false, true);
  std::string error;
  ASSERT_TRUE(store->open(error)) << error;
  std::vector<Checkpoint> cps;
  store->checkpoints(
      "t", [&](const std::string& t) { cps.push_back(*parse_checkpoint(t)); }, error);
  std::vector<int64_t> seqs;
  for (const auto& c : cps) seqs.push_back(c.seq);
  // Every 4 records since the last checkpoint, and at shutdown.
  EXPECT_EQ(seqs, (std::vector<int64_t>{4, 8, 10, 13}));
  const Key old_pub = Key::load_public(path("old.pub")),
            new_pub = Key::load_public(path("new.pub"));
  EXPECT_EQ(cps[2].signatures.size(), 1u);
  ASSERT_EQ(cps[3].signatures.size(), 2u);  // the rotation: signed by the new key and the old
  EXPECT_EQ(cps[3].rotated_from, old_pub.fingerprint());
  EXPECT_TRUE(new_pub.verify(cps[3].body, cps[3].signatures[0].sig));
  EXPECT_TRUE(old_pub.verify(cps[3].body, cps[3].signatures[1].sig));
  // Each checkpoint's root is the tree of the records before it, and proofs lead to it.
  const auto source = node_source(*store, "t");
  for (const auto& c : cps) EXPECT_EQ(to_hex(*merkle::root_of(c.seq, source)), c.root);
  const auto path5 = merkle::inclusion_proof(4, 13, source);
  Digest root;
  ASSERT_TRUE(parse_hex_digest(cps[3].root, root));
  EXPECT_TRUE(
      merkle::verify_inclusion(4, 13, merkle::leaf_hash(store->row("t", 5)->record), *path5, root));
}

// Two witnesses in one sink: each countersigns what it is offered with its own key and keeps the
// copy in the store, as the witness client does; the second is gone after checkpoint 4.
class TwoWitnesses : public CheckpointSink {
 public:
  TwoWitnesses(Key first, Key second, std::unique_ptr<Store> store)
      : keys_{std::move(first), std::move(second)}, store_(std::move(store)) {
    std::string error;
    EXPECT_TRUE(store_->open(error)) << error;
  }
  void offer(int64_t seq, std::string text) override {
    auto c = parse_checkpoint(text);
    for (const Key& k : keys_) {
      if (&k == &keys_[1] && seq > 4) continue;
      Checkpoint copy = *c;
      copy.cosignatures.push_back({k.fingerprint(), k.sign(c->body), "http://w/"});
      std::string error;
      ASSERT_TRUE(store_->add_cosignature("t", seq, k.fingerprint(), copy.text(), error)) << error;
      tell_(k.fingerprint(), seq, copy.text());
    }
    if (seq == 4) offered_4.set_value();
    if (seq == 8) offered_8.set_value();
  }
  uint64_t failures() const override { return 0; }
  void on_countersigned(Countersigned f) override { tell_ = std::move(f); }
  std::promise<void> offered_4, offered_8;

 private:
  Key keys_[2];
  std::unique_ptr<Store> store_;
  Countersigned tell_;
};

TEST_F(KeyFiles, TheNewestCheckpointIsServedWithEachWitnessNewestCountersignature) {
  Key::generate(path("gw"));
  Key::generate(path("w1"));
  Key::generate(path("w2"));
  const Key w1 = Key::load_public(path("w1.pub")), w2 = Key::load_public(path("w2.pub"));
  const std::string db = path("audit.db");
  auto options = [&] {
    CheckpointOptions cp;
    cp.key = std::make_shared<const Key>(Key::load_private(path("gw")));
    cp.every_records = 4;
    cp.every_ms = 3'600'000;
    cp.log = false;
    return cp;
  };
  // Checks the served text: checkpoint 8 with the first witness's countersignature; the second
  // witness's newest, of checkpoint 4, with the body it signs.
  auto check = [&](const std::string& served) {
    const auto top = parse_checkpoint(served);
    ASSERT_TRUE(top) << served;
    EXPECT_EQ(top->seq, 8);
    ASSERT_EQ(top->cosignatures.size(), 1u) << served;
    EXPECT_EQ(top->cosignatures[0].key, w1.fingerprint());
    EXPECT_TRUE(w1.verify(top->body, top->cosignatures[0].sig));
    const std::string list = ",\"countersigned\":[";
    const size_t at = served.find(list);
    ASSERT_NE(at, std::string::npos) << served;
    ASSERT_EQ(served.substr(served.size() - 2), "]}");
    const auto older =
        parse_checkpoint(served.substr(at + list.size(), served.size() - at - list.size() - 2));
    ASSERT_TRUE(older) << served;
    EXPECT_EQ(older->seq, 4);
    ASSERT_EQ(older->cosignatures.size(), 1u) << served;
    EXPECT_EQ(older->cosignatures[0].key, w2.fingerprint());
    EXPECT_TRUE(w2.verify(older->body, older->cosignatures[0].sig));
    EXPECT_FALSE(w2.verify(top->body, older->cosignatures[0].sig));
  };
  {
    CheckpointOptions cp = options();
    auto witness_store = open_sqlite(db, false);
    auto sink = std::make_unique<TwoWitnesses>(
        Key::load_private(path("w1")), Key::load_private(path("w2")), std::move(witness_store));
    TwoWitnesses* witnesses = sink.get();
    cp.sink = std::move(sink);
    Writer w(open_sqlite(db, false), Durability::kBatched, "t", 1000, std::move(cp));
    std::string error;
    ASSERT_TRUE(w.start(error)) << error;
    // Four records, then four more once the first checkpoint is offered (a batch's checkpoints
    // are offered newest only).
    for (int i = 1; i <= 8; ++i) {
      Record r;
      r.request_id = "r" + std::to_string(i);
      w.submit(std::move(r), nullptr);
      if (i == 4) witnesses->offered_4.get_future().wait();
    }
    witnesses->offered_8.get_future().wait();
    check(w.latest_checkpoint());
  }
  // Started again, without witnesses: what the store kept is served.
  Writer again(open_sqlite(db, false), Durability::kBatched, "t", 1000, options());
  std::string error;
  ASSERT_TRUE(again.start(error)) << error;
  check(again.latest_checkpoint());
}

TEST_F(KeyFiles, ASecondWriterForTheSameStoreIsRefusedWithAClearMessage) {
  const std::string db = path("audit.db");
  Writer first(open_sqlite(db, false), Durability::kBatched, "t", 10);
  std::string error;
  ASSERT_TRUE(first.start(error)) << error;
  Writer second(open_sqlite(db, false), Durability::kBatched, "t", 10);
  EXPECT_FALSE(second.start(error));
  EXPECT_NE(error.find("another process is writing the audit store"), std::string::npos) << error;
}

TEST(AuditReservation, AReservedRecordIsNeverRefusedAndAFullQueueRefusesNewRequests) {
  const std::string db = (std::filesystem::temp_directory_path() /
                          ("warden-reserve-" + std::to_string(::getpid()) + ".db"))
                             .string();
  {
    Writer w(open_sqlite(db, false), Durability::kBatched, "t", 2);
    std::string error;
    ASSERT_TRUE(w.start(error)) << error;
    EXPECT_TRUE(w.reserve());
    EXPECT_TRUE(w.reserve());
    EXPECT_FALSE(w.reserve());                  // the queue's places are taken: 503 now
    EXPECT_FALSE(w.submit(Record{}, nullptr));  // an unreserved record would be dropped
    EXPECT_TRUE(w.submit(Record{}, nullptr, true));
    EXPECT_TRUE(w.submit(Record{}, nullptr, true));
  }
  auto store = open_sqlite(db, false, true);
  std::string error;
  ASSERT_TRUE(store->open(error));
  int64_t seq = 0;
  std::string hash;
  ASSERT_TRUE(store->head("t", seq, hash, error));
  EXPECT_EQ(seq, 2);
  std::filesystem::remove(db);
  std::filesystem::remove(db + "-wal");
  std::filesystem::remove(db + "-shm");
  std::filesystem::remove(db + ".lock");
}

TEST(AuditStore, OpeningAMissingStoreForReadingFailsAndCreatesNothing) {
  const std::string db = "/tmp/warden-missing-" + std::to_string(::getpid()) + ".db";
  auto store = open_sqlite(db, false, true);
  std::string error;
  EXPECT_FALSE(store->open(error));
  EXPECT_NE(error.find("no audit store"), std::string::npos);
  EXPECT_FALSE(std::filesystem::exists(db));
}

}  // namespace
}  // namespace warden::audit
