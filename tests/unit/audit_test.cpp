#include <gtest/gtest.h>
#include <sqlite3.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <future>
#include <map>
#include <optional>
#include <thread>

#include "audit/audit.h"

namespace warden::audit {
namespace {

Record sample(int i) {
  Record r;
  r.ts_ms = 1'790'000'000'000 + i;
  r.request_id = "req-" + std::to_string(i);
  r.instance = "test";
  r.principal_id = "alice";
  r.model = "m";
  r.decision = i % 3 ? "permit" : "deny";
  r.deployment = i % 3 ? "d1" : "";
  r.rules = {"rule-a"};
  r.request_classes = {{"pii.email", 1}};
  r.candidates = {{"d1", "p", "Op", "DE", "fra", 0, false}};
  r.status = i % 3 ? 200 : 403;
  return r;
}

TEST(AuditRecord, IdentityAttributesAreVersionThreeAndAbsentBefore) {
  Record r = sample(1);
  r.auth_methods = {"jwt", "mtls"};
  r.principal_issuer = "https://idp.example";
  r.principal_groups = {"eng"};
  r.device_present = true;
  r.device.bound = true;
  r.device.id = "spiffe://example.org/d/1";
  r.device.managed = true;
  r.device.patch_age_days = 4;
  r.device.labels = {{"site", "hq"}};
  const std::string c = r.canonical();
  EXPECT_NE(c.find(R"("device":{"bound":true,"compliant":false,"disk_encrypted":false,)"
                   R"("id":"spiffe://example.org/d/1","labels":{"site":"hq"},"managed":true,)"
                   R"("os":"","os_version":"","patch_age_days":4,"posture_age_s":-1})"),
            std::string::npos)
      << c;
  Record back;
  ASSERT_TRUE(parse_record(c, back));
  EXPECT_EQ(back.canonical(), c);
  EXPECT_EQ(back.device.id, r.device.id);
  EXPECT_EQ(back.principal_groups, r.principal_groups);
  // A version 2 record has none of them, and reads back without them.
  r.v = 2;
  const std::string old = r.canonical();
  for (const char* key : {"auth_methods", "principal_issuer", "principal_groups", "\"device\""})
    EXPECT_EQ(old.find(key), std::string::npos) << key;
  Record back2;
  ASSERT_TRUE(parse_record(old, back2));
  EXPECT_EQ(back2.canonical(), old);
  EXPECT_TRUE(back2.auth_methods.empty());
  EXPECT_TRUE(back2.device.id.empty());
}

TEST(AuditRecord, LimitsAndEnergyAreVersionFourAndAbsentBefore) {
  Record r = sample(1);
  r.candidates[0].hardware = "h100";
  r.candidates[0].grid_region = "DE";
  r.candidates[0].has_energy = true;
  r.candidates[0].wh_per_mtok_in = 50;
  r.candidates[0].wh_per_mtok_out = 200.5;
  r.limits = {{"team-spend", "team-spend|team=research", 4200, 380, 5800},
              {"rpm", "rpm|principal=alice", 1, -1, 0},
              {"open", "open|principal=alice", 0, -1, 0, true}};
  r.limit_refused = "rpm";
  const std::string c = r.canonical();
  EXPECT_NE(c.find(R"("candidates":[{"energy":{"wh_per_mtok_in":50.000000,)"
                   R"("wh_per_mtok_out":200.500000},"grid_region":"DE","hardware":"h100",)"),
            std::string::npos)
      << c;
  EXPECT_NE(c.find(R"("limit_refused":"rpm","limits":[{"key":"team-spend|team=research",)"
                   R"("remaining":5800,"reserved":4200,"rule":"team-spend","settled":380},)"),
            std::string::npos)
      << c;
  Record back;
  ASSERT_TRUE(parse_record(c, back));
  EXPECT_EQ(back.canonical(), c);
  ASSERT_EQ(back.limits.size(), 3u);
  EXPECT_EQ(back.limits[1].settled, -1);
  // A rule that failed open counted nothing: none of the amounts.
  EXPECT_NE(c.find(R"({"fail_open":true,"key":"open|principal=alice","rule":"open"}])"),
            std::string::npos)
      << c;
  EXPECT_TRUE(back.limits[2].fail_open);
  EXPECT_FALSE(back.limits[1].fail_open);
  EXPECT_EQ(back.candidates[0].wh_per_mtok_out, 200.5);
  // A version 3 record has none of them, and reads back without them.
  r.v = 3;
  const std::string old = r.canonical();
  for (const char* key : {"limits", "limit_refused", "hardware", "grid_region", "energy"})
    EXPECT_EQ(old.find(key), std::string::npos) << key;
  Record back3;
  ASSERT_TRUE(parse_record(old, back3));
  EXPECT_EQ(back3.canonical(), old);
  EXPECT_TRUE(back3.limits.empty());
  EXPECT_FALSE(back3.candidates[0].has_energy);
}

TEST(AuditDoor, RefusalsAreCountedOncePerAddressReasonAndWindowWithinABound) {
  DoorCounter door;
  const int64_t t = 1'790'000'000'000;
  for (int i = 0; i < 1000; ++i) door.count("10.0.0.1", "unauthenticated", 401, t + i % 900);
  door.count("10.0.0.1", "bad_request", 400, t + 5);
  EXPECT_TRUE(door.take("gw", t + 999, false).empty()) << "the window has not ended";
  // A flood from many addresses: the first kKeys entries of a window are kept apart, the rest
  // are counted together under "*".
  for (int i = 0; i < 300; ++i)
    door.count("10.1.0." + std::to_string(i), "unauthenticated", 401, t + 10);
  const std::vector<Record> records = door.take("gw", t + 1000, false);
  ASSERT_EQ(records.size(), DoorCounter::kKeys + 1);
  int64_t total = 0;
  for (const Record& r : records) {
    total += r.count;
    EXPECT_EQ(r.decision, "refused");
    EXPECT_EQ(r.instance, "gw");
  }
  EXPECT_EQ(total, 1301);
  const auto find = [&](const std::string& address, int status) {
    return std::find_if(records.begin(), records.end(), [&](const Record& r) {
      return r.remote_address == address && r.status == status;
    });
  };
  ASSERT_NE(find("10.0.0.1", 401), records.end());
  EXPECT_EQ(find("10.0.0.1", 401)->count, 1000);
  EXPECT_EQ(find("10.0.0.1", 401)->ts_ms, t);
  EXPECT_EQ(find("10.0.0.1", 400)->error, "bad_request");
  ASSERT_NE(find("*", 401), records.end());
  EXPECT_EQ(find("*", 401)->count, 300 - static_cast<int64_t>(DoorCounter::kKeys - 2));
  EXPECT_TRUE(door.take("gw", t + 5000, false).empty()) << "nothing counted since";
  door.count("10.0.0.2", "unauthenticated", 401, t + 6000);
  EXPECT_EQ(door.take("gw", t + 6001, true).size(), 1u) << "all of them at the end";
  // Version 5: a refusal's record carries its address and count and reads back; other records
  // have neither key.
  const std::string c = records.front().canonical();
  EXPECT_NE(c.find(R"("count":)"), std::string::npos) << c;
  EXPECT_NE(c.find(R"("remote_address":)"), std::string::npos) << c;
  Record back;
  ASSERT_TRUE(parse_record(c, back));
  EXPECT_EQ(back.canonical(), c);
  EXPECT_EQ(back.count, records.front().count);
  const std::string permit = sample(1).canonical();
  EXPECT_EQ(permit.find("remote_address"), std::string::npos);
  EXPECT_NE(permit.find(R"("v":6)"), std::string::npos);
}

TEST(AuditRecord, RepeatingSetsAreStoredOnceAndReferredToByHashFromVersionSix) {
  Record r = sample(1);
  r.principal_labels = {{"dept", "risk"}};
  std::vector<AttrSet> sets;
  const std::string stored = r.stored(sets);
  ASSERT_EQ(sets.size(), 2u);
  EXPECT_EQ(stored.find(R"("candidates":)"), std::string::npos) << stored;
  EXPECT_EQ(stored.find("principal_id"), std::string::npos) << stored;
  EXPECT_NE(stored.find(R"("candidates_ref":")" + sets[0].hash + "\""), std::string::npos);
  EXPECT_NE(stored.find(R"("principal_ref":")" + sets[1].hash + "\""), std::string::npos);
  EXPECT_LT(stored.size(), r.canonical().size());
  std::map<std::string, std::string> held;
  for (const AttrSet& a : sets) held[a.hash] = a.body;
  const AttrLookup lookup = [&](const std::string& h) -> std::optional<std::string> {
    const auto it = held.find(h);
    if (it == held.end()) return std::nullopt;
    return it->second;
  };
  // Expanded with its sets, it is the full canonical form, which reads back.
  std::string full, error;
  ASSERT_TRUE(expand_record(stored, lookup, full, error)) << error;
  EXPECT_EQ(full, r.canonical());
  Record back;
  ASSERT_TRUE(parse_record(full, back));
  EXPECT_EQ(back.canonical(), full);
  // Another request of the same principal to the same model refers to the same sets.
  std::vector<AttrSet> again;
  Record next = sample(2);
  next.principal_labels = r.principal_labels;
  next.stored(again);
  ASSERT_EQ(again.size(), 2u);
  EXPECT_EQ(again[0].hash, sets[0].hash);
  EXPECT_EQ(again[1].hash, sets[1].hash);
  // A label a client chooses cannot stand in for a reference: the record's own are read.
  Record tricky = r;
  tricky.device_present = true;
  tricky.device.labels = {{"candidates_ref", sets[0].hash}, {"principal_ref", sets[1].hash}};
  std::vector<AttrSet> tricky_sets;
  ASSERT_TRUE(expand_record(tricky.stored(tricky_sets), lookup, full, error)) << error;
  EXPECT_EQ(full, tricky.canonical());
  // A set missing, or altered, is refused.
  held[sets[1].hash] = std::string(R"({"principal_id":"mallory"})");
  EXPECT_FALSE(expand_record(stored, lookup, full, error));
  EXPECT_NE(error.find("does not match its hash"), std::string::npos) << error;
  held.erase(sets[0].hash);
  EXPECT_FALSE(expand_record(stored, lookup, full, error));
  EXPECT_NE(error.find("missing"), std::string::npos) << error;
  // Older versions are stored whole; a record without a principal or candidates has no set.
  r.v = 5;
  std::vector<AttrSet> none;
  EXPECT_EQ(r.stored(none), r.canonical());
  Record refused;
  refused.decision = "refused";
  refused.stored(none);
  EXPECT_TRUE(none.empty());
}

TEST(AuditRecord, CanonicalEncodingIsStableAndRoundTrips) {
  Record r = sample(1);
  r.principal_labels = {{"z", "1"}, {"a", "quote\"and\\ctl\x01"}};
  const std::string c = r.canonical();
  EXPECT_EQ(c.rfind(R"({"answer_classes":{},"auth_methods":[],"candidates":[{"grid_region":"",)"
                    R"("hardware":"","jur)",
                    0),
            0u)
      << c;
  EXPECT_NE(c.find(R"("principal_labels":{"a":"quote\"and\\ctl\u0001","z":"1"})"),
            std::string::npos);
  Record back;
  ASSERT_TRUE(parse_record(c, back));
  EXPECT_EQ(back.canonical(), c);
  EXPECT_FALSE(parse_record("{\"not\":\"a record\"}", back));
  // SHA-256 of 32 zero bytes followed by "abc" (computed independently, with Python's hashlib).
  EXPECT_EQ(sha256_hex(std::string(64, '0'), "abc"),
            "365aa7d8f7f9402c4b9434502b4cc89ddb09fe50d7cd95b493b834c62d5a5370");
}

class AuditChain : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() /
           ("warden-audit-" + std::to_string(::getpid()) + "-" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::create_directories(dir_);
    db_ = (dir_ / "audit.db").string();
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  void write(int n, Durability d = Durability::kBatched, int64_t version = Record::kVersion) {
    Writer w(open_sqlite(db_, d == Durability::kStrict), d, "test", 1000);
    std::string error;
    ASSERT_TRUE(w.start(error)) << error;
    std::promise<void> last;
    for (int i = 1; i <= n; ++i) {
      Record r = sample(i);
      r.v = version;
      ASSERT_TRUE(w.submit(std::move(r),
                           i == n ? std::function<void()>([&] { last.set_value(); }) : nullptr));
    }
    last.get_future().wait();
    w.flush();  // the count follows the callbacks
    EXPECT_EQ(w.committed(), static_cast<uint64_t>(n));
  }

  void sql(const std::string& statement) {
    sqlite3* db = nullptr;
    ASSERT_EQ(sqlite3_open(db_.c_str(), &db), SQLITE_OK);
    char* err = nullptr;
    ASSERT_EQ(sqlite3_exec(db, statement.c_str(), nullptr, nullptr, &err), SQLITE_OK)
        << (err ? err : "");
    sqlite3_close(db);
  }

  // Runs `warden audit verify`; returns its exit code and output.
  std::pair<int, std::string> verify() {
    const std::string cmd = std::string(WARDEN_BIN) + " audit verify --db " + db_ + " 2>&1";
    FILE* p = popen(cmd.c_str(), "r");
    std::string out;
    std::array<char, 512> buf{};
    while (fgets(buf.data(), buf.size(), p)) out += buf.data();
    const int status = pclose(p);
    return {WEXITSTATUS(status), out};
  }

  std::filesystem::path dir_;
  std::string db_;
};

TEST_F(AuditChain, AWholeChainVerifiesAndContinuesAcrossRestarts) {
  write(10);
  write(5, Durability::kStrict);  // a restart continues the same chain
  const auto [code, out] = verify();
  EXPECT_EQ(code, 0) << out;
  EXPECT_NE(out.find("chain test: 15 records, whole"), std::string::npos) << out;
}

TEST_F(AuditChain, OlderWholeRecordsAndCompactOnesVerifyAndExportAlikeInOneChain) {
  write(4, Durability::kBatched, 5);  // written before compaction
  write(4);
  const auto [code, out] = verify();
  EXPECT_EQ(code, 0) << out;
  EXPECT_NE(out.find("chain test: 8 records, whole"), std::string::npos) << out;
  // The store holds the two sets once; export shows every record whole.
  const std::string cmd = std::string(WARDEN_BIN) + " audit export --db " + db_ + " 2>&1";
  FILE* p = popen(cmd.c_str(), "r");
  std::string exported;
  std::array<char, 4096> buf{};
  while (fgets(buf.data(), buf.size(), p)) exported += buf.data();
  pclose(p);
  size_t whole = 0;
  for (size_t at = 0; (at = exported.find(R"("principal_id":"alice")", at)) != std::string::npos;
       ++at)
    ++whole;
  EXPECT_EQ(whole, 8u) << exported;
  EXPECT_EQ(exported.find("_ref"), std::string::npos) << exported;
  sql("UPDATE audit_attrs SET attrs = replace(attrs, 'alice', 'mallory')");
  const auto [bad, why] = verify();
  EXPECT_EQ(bad, 1) << why;
  EXPECT_NE(why.find("first bad record at seq 5: attribute set"), std::string::npos) << why;
}

TEST_F(AuditChain, DetectsAModifiedRecord) {
  write(10);
  sql("UPDATE audit SET record = replace(record, '\"status\":403', '\"status\":200') WHERE seq = "
      "6");
  const auto [code, out] = verify();
  EXPECT_EQ(code, 1);
  EXPECT_NE(out.find("first bad record at seq 6: content does not match its hash (modified)"),
            std::string::npos)
      << out;
}

TEST_F(AuditChain, DetectsADeletedRecord) {
  write(10);
  sql("DELETE FROM audit WHERE seq = 4");
  const auto [code, out] = verify();
  EXPECT_EQ(code, 1);
  EXPECT_NE(out.find("first bad record at seq 4: missing (deleted)"), std::string::npos) << out;
}

TEST_F(AuditChain, DetectsAnInsertedRecord) {
  write(10);
  // Shift 6..10 up and put a forged record at 6, with a hash that matches its own content.
  sql("UPDATE audit SET seq = seq + 100 WHERE seq >= 6; UPDATE audit SET seq = seq - 99 WHERE seq "
      ">= 106;");
  const Record forged = sample(99);
  const std::string c = forged.canonical();
  const std::string prev = sha256_hex("", "");  // any value: the forger does not know the link
  sql("INSERT INTO audit VALUES ('test', 6, '" + prev + "', '" + sha256_hex(prev, c) + "', '" + c +
      "')");
  const auto [code, out] = verify();
  EXPECT_EQ(code, 1);
  EXPECT_NE(out.find("first bad record at seq 6: does not link to the previous record"),
            std::string::npos)
      << out;
}

TEST_F(AuditChain, DetectsReorderedRecords) {
  write(10);
  sql("UPDATE audit SET seq = -1 WHERE seq = 3; UPDATE audit SET seq = 3 WHERE seq = 7; UPDATE "
      "audit SET seq = 7 WHERE seq = -1;");
  const auto [code, out] = verify();
  EXPECT_EQ(code, 1);
  EXPECT_NE(out.find("first bad record at seq 3: does not link"), std::string::npos) << out;
}

TEST_F(AuditChain, CorruptOrTruncatedFilesGiveAClearError) {
  write(20);
  {
    FILE* f = std::fopen(db_.c_str(), "r+b");
    ASSERT_NE(f, nullptr);
    std::fseek(f, 0, SEEK_SET);
    std::fputs("this is not a database", f);
    std::fclose(f);
  }
  auto [code, out] = verify();
  EXPECT_EQ(code, 2);
  EXPECT_NE(out.find("audit store"), std::string::npos) << out;
  std::filesystem::resize_file(db_, 100);
  std::tie(code, out) = verify();
  EXPECT_EQ(code, 2) << out;
}

// At shutdown flush() is what keeps the workers' executors alive until the callbacks that post
// to them have run: it may not return between a record's commit and its callback's end. The
// callback is slowed down so that a flush() that waits only for the commit returns inside it.
TEST_F(AuditChain, FlushReturnsOnlyOnceTheCommittedRecordsCallbacksHaveRun) {
  Writer w(open_sqlite(db_, true), Durability::kStrict, "test", 10);
  std::string error;
  ASSERT_TRUE(w.start(error)) << error;
  std::atomic<bool> entered{false};
  std::atomic<bool> finished{false};
  ASSERT_TRUE(w.submit(sample(1), [&] {
    entered = true;
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
    finished = true;
  }));
  w.flush();
  EXPECT_TRUE(entered);
  EXPECT_TRUE(finished) << "flush() returned while a callback was still running";
}

TEST_F(AuditChain, NoCallbackRunsOnceClosedEvenWhenItsRecordIsCommittedLater) {
  Writer w(open_sqlite(db_, true), Durability::kBatched, "test", 10);
  std::string error;
  ASSERT_TRUE(w.start(error)) << error;
  sql("ALTER TABLE audit RENAME TO audit_gone");  // the store fails, as at a shutdown that gives up
  std::atomic<bool> ran{false};
  ASSERT_TRUE(w.submit(sample(1), [&] { ran = true; }));
  for (int i = 0; i < 200 && w.failures() == 0; ++i) usleep(10'000);
  ASSERT_GE(w.failures(), 1u);
  w.close_callbacks();
  sql("ALTER TABLE audit_gone RENAME TO audit");
  for (int i = 0; i < 300 && w.committed() < 1; ++i) usleep(10'000);
  EXPECT_EQ(w.committed(), 1u) << "the record is still written";
  EXPECT_FALSE(ran) << "a callback ran after close_callbacks()";
}

TEST_F(AuditChain, AFailingStoreRefusesInStrictModeAndNothingIsLost) {
  Writer w(open_sqlite(db_, true), Durability::kStrict, "test", 10);
  std::string error;
  ASSERT_TRUE(w.start(error)) << error;
  std::promise<void> one;
  ASSERT_TRUE(w.submit(sample(1), [&] { one.set_value(); }));
  one.get_future().wait();
  // The table disappears under the writer: commits fail.
  sql("ALTER TABLE audit RENAME TO audit_gone");
  ASSERT_TRUE(w.submit(sample(2), nullptr));
  for (int i = 0; i < 100 && w.accepting(); ++i) usleep(20'000);
  EXPECT_FALSE(w.accepting());
  EXPECT_FALSE(w.submit(sample(3), nullptr));
  EXPECT_GE(w.failures(), 1u);
  // It comes back: the held record is committed, and new ones are accepted again.
  sql("ALTER TABLE audit_gone RENAME TO audit");
  for (int i = 0; i < 200 && !w.accepting(); ++i) usleep(20'000);
  EXPECT_TRUE(w.accepting());
  for (int i = 0; i < 200 && w.committed() < 2; ++i) usleep(20'000);
  EXPECT_EQ(w.committed(), 2u);
}

}  // namespace
}  // namespace warden::audit
