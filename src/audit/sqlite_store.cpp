#include <fcntl.h>
#include <sqlite3.h>
#include <sys/file.h>
#include <unistd.h>

#include "audit/audit.h"
#include "common/json_writer.h"

namespace warden::audit {

namespace {

// The tables of the Merkle tree, the checkpoints and the archive anchor (docs/AUDIT.md).
constexpr const char* kProofTables =
    "CREATE TABLE IF NOT EXISTS audit_tree (chain TEXT NOT NULL, level INTEGER NOT NULL,"
    " idx INTEGER NOT NULL, hash TEXT NOT NULL, PRIMARY KEY (chain, level, idx)) WITHOUT ROWID;"
    "CREATE TABLE IF NOT EXISTS audit_checkpoint (chain TEXT NOT NULL, seq INTEGER NOT NULL,"
    " checkpoint TEXT NOT NULL, PRIMARY KEY (chain, seq));"
    "CREATE TABLE IF NOT EXISTS audit_cosignature (chain TEXT NOT NULL, seq INTEGER NOT NULL,"
    " witness TEXT NOT NULL, checkpoint TEXT NOT NULL, PRIMARY KEY (chain, seq, witness));"
    "CREATE TABLE IF NOT EXISTS audit_anchor (chain TEXT PRIMARY KEY, seq INTEGER NOT NULL,"
    " checkpoint TEXT NOT NULL, frontier TEXT NOT NULL);"
    "CREATE TABLE IF NOT EXISTS audit_attrs (hash TEXT PRIMARY KEY, attrs TEXT NOT NULL)"
    " WITHOUT ROWID;";

// A prepared statement, reset and rebound on each use.
class Stmt {
 public:
  Stmt(sqlite3* db, const char* sql) { sqlite3_prepare_v2(db, sql, -1, &st_, nullptr); }
  ~Stmt() { sqlite3_finalize(st_); }
  Stmt(const Stmt&) = delete;
  Stmt& operator=(const Stmt&) = delete;
  bool ok() const { return st_ != nullptr; }
  Stmt& text(int i, std::string_view v) {
    sqlite3_bind_text(st_, i, v.data(), static_cast<int>(v.size()), SQLITE_TRANSIENT);
    return *this;
  }
  Stmt& num(int i, int64_t v) {
    sqlite3_bind_int64(st_, i, v);
    return *this;
  }
  int step() { return sqlite3_step(st_); }
  std::string col(int i) {
    const unsigned char* t = sqlite3_column_text(st_, i);
    return t ? std::string(reinterpret_cast<const char*>(t)) : std::string();
  }
  int64_t col_num(int i) { return sqlite3_column_int64(st_, i); }
  void reset() { sqlite3_reset(st_); }

 private:
  sqlite3_stmt* st_ = nullptr;
};

class SqliteStore : public Store {
 public:
  SqliteStore(std::string path, bool strict, bool must_exist)
      : path_(std::move(path)), strict_(strict), must_exist_(must_exist) {}
  ~SqliteStore() override {
    node_.reset();
    sqlite3_finalize(insert_);
    sqlite3_finalize(insert_node_);
    sqlite3_close(db_);
    if (lock_fd_ >= 0) ::close(lock_fd_);
  }

  bool open(std::string& error) override {
    const int flags =
        must_exist_ ? SQLITE_OPEN_READWRITE : SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE;
    if (must_exist_ && ::access(path_.c_str(), F_OK) != 0) {
      error = "no audit store at " + path_;
      return false;
    }
    if (sqlite3_open_v2(path_.c_str(), &db_, flags, nullptr) != SQLITE_OK) {
      error = "cannot open " + path_ + ": " + sqlite3_errmsg(db_);
      return false;
    }
    sqlite3_busy_timeout(db_, 2000);
    if (must_exist_) {
      // The commands read (and archive) a store the gateway made: it must already be one. The
      // tables added since the first version are created, as the gateway would.
      Stmt st(db_, "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'audit'");
      if (!st.ok() || st.step() != SQLITE_ROW) {
        error = path_ + " is not an audit store";
        return false;
      }
      return exec(kProofTables, error);
    }
    // Checkpoints in larger steps: the WAL is folded into the database less often.
    const std::string sql =
        std::string(
            "PRAGMA journal_mode=WAL; PRAGMA wal_autocheckpoint=16384; PRAGMA synchronous=") +
        (strict_ ? "FULL" : "NORMAL") +
        ";"
        "CREATE TABLE IF NOT EXISTS audit ("
        " chain TEXT NOT NULL, seq INTEGER NOT NULL, prev_hash TEXT NOT NULL,"
        " hash TEXT NOT NULL, record TEXT NOT NULL,"
        " PRIMARY KEY (chain, seq));" +
        kProofTables;
    if (!exec(sql, error)) return false;
    if (sqlite3_prepare_v2(
            db_, "INSERT INTO audit (chain, seq, prev_hash, hash, record) VALUES (?,?,?,?,?)", -1,
            &insert_, nullptr) != SQLITE_OK ||
        sqlite3_prepare_v2(db_,
                           "INSERT OR IGNORE INTO audit_tree (chain, level, idx, hash) VALUES "
                           "(?,?,?,?)",
                           -1, &insert_node_, nullptr) != SQLITE_OK) {
      error = sqlite3_errmsg(db_);
      return false;
    }
    return true;
  }

  // One gateway writes a SQLite store: a lock file beside it, held while the store is open
  // (the kernel releases it when the process ends, so a crash leaves no stale lock).
  bool lock(const std::string& chain, std::string& error) override {
    const std::string lock_path = path_ + ".lock";
    lock_fd_ = ::open(lock_path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (lock_fd_ < 0) {
      error = "cannot create the lock file " + lock_path;
      return false;
    }
    if (::flock(lock_fd_, LOCK_EX | LOCK_NB) != 0) {
      error = "another process is writing the audit store " + path_ + " (chain " + chain +
              "; lock " + lock_path + " is held): one gateway per SQLite store, or give each " +
              "instance its own audit.path or use PostgreSQL with distinct audit.instance names";
      return false;
    }
    return true;
  }

  bool head(const std::string& chain, int64_t& seq, std::string& hash,
            std::string& error) override {
    Stmt st(db_, "SELECT seq, hash FROM audit WHERE chain = ? ORDER BY seq DESC LIMIT 1");
    if (!st.ok()) return fail(error);
    st.text(1, chain);
    seq = 0;
    hash.clear();
    const int rc = st.step();
    if (rc == SQLITE_ROW) {
      seq = st.col_num(0);
      hash = st.col(1);
    } else if (rc != SQLITE_DONE) {
      return fail(error);
    } else if (auto a = anchor(chain)) {  // every record archived: the chain goes on from the cut
      seq = a->seq;
      if (auto c = parse_checkpoint(a->checkpoint)) hash = c->hash;
    }
    return true;
  }

  bool append(const std::string& chain, const Batch& b, std::string& error) override {
    if (!exec("BEGIN IMMEDIATE", error)) return false;
    for (const StoredRow& r : b.rows) {
      sqlite3_reset(insert_);
      sqlite3_bind_text(insert_, 1, r.chain.data(), static_cast<int>(r.chain.size()),
                        SQLITE_STATIC);
      sqlite3_bind_int64(insert_, 2, r.seq);
      sqlite3_bind_text(insert_, 3, r.prev_hash.data(), static_cast<int>(r.prev_hash.size()),
                        SQLITE_STATIC);
      sqlite3_bind_text(insert_, 4, r.hash.data(), static_cast<int>(r.hash.size()), SQLITE_STATIC);
      sqlite3_bind_text(insert_, 5, r.record.data(), static_cast<int>(r.record.size()),
                        SQLITE_STATIC);
      if (sqlite3_step(insert_) != SQLITE_DONE) return rollback(error);
    }
    for (const merkle::Node& n : b.nodes) {
      const std::string hex = to_hex(n.hash);
      sqlite3_reset(insert_node_);
      sqlite3_bind_text(insert_node_, 1, chain.data(), static_cast<int>(chain.size()),
                        SQLITE_STATIC);
      sqlite3_bind_int(insert_node_, 2, n.level);
      sqlite3_bind_int64(insert_node_, 3, n.index);
      sqlite3_bind_text(insert_node_, 4, hex.data(), static_cast<int>(hex.size()),
                        SQLITE_TRANSIENT);
      if (sqlite3_step(insert_node_) != SQLITE_DONE) return rollback(error);
    }
    for (const AttrSet& a : b.attrs) {
      Stmt st(db_, "INSERT OR IGNORE INTO audit_attrs (hash, attrs) VALUES (?,?)");
      if (!st.ok() || st.text(1, a.hash).text(2, a.body).step() != SQLITE_DONE)
        return rollback(error);
    }
    for (const auto& [seq, text] : b.checkpoints) {
      Stmt st(db_, "INSERT INTO audit_checkpoint (chain, seq, checkpoint) VALUES (?,?,?)");
      if (!st.ok() || st.text(1, chain).num(2, seq).text(3, text).step() != SQLITE_DONE)
        return rollback(error);
    }
    if (!exec("COMMIT", error)) {
      std::string ignored;
      exec("ROLLBACK", ignored);
      return false;
    }
    return true;
  }

  bool scan(const std::function<bool(const StoredRow&)>& visit, std::string& error) override {
    Stmt st(db_, "SELECT chain, seq, prev_hash, hash, record FROM audit ORDER BY chain, seq");
    return rows(st, visit, error);
  }

  bool scan_chain(const std::string& chain, int64_t from,
                  const std::function<bool(const StoredRow&)>& visit, std::string& error) override {
    Stmt st(db_,
            "SELECT chain, seq, prev_hash, hash, record FROM audit WHERE chain = ? AND seq >= ?"
            " ORDER BY seq");
    if (st.ok()) st.text(1, chain).num(2, from);
    return rows(st, visit, error);
  }

  std::optional<StoredRow> row(const std::string& chain, int64_t seq) override {
    Stmt st(db_,
            "SELECT chain, seq, prev_hash, hash, record FROM audit WHERE chain = ? AND seq = ?");
    if (!st.ok()) return std::nullopt;
    st.text(1, chain).num(2, seq);
    std::optional<StoredRow> out;
    std::string error;
    rows(
        st, [&](const StoredRow& r) { return out = r, false; }, error);
    return out;
  }

  std::optional<Digest> tree_node(const std::string& chain, int level, int64_t index) override {
    if (!node_)
      node_ = std::make_unique<Stmt>(
          db_, "SELECT hash FROM audit_tree WHERE chain = ? AND level = ? AND idx = ?");
    Stmt& st = *node_;
    if (!st.ok()) return std::nullopt;
    Digest d;
    const bool found = st.text(1, chain).num(2, level).num(3, index).step() == SQLITE_ROW &&
                       parse_hex_digest(st.col(0), d);
    st.reset();
    if (!found) return std::nullopt;
    return d;
  }

  bool checkpoints(const std::string& chain, const std::function<void(const std::string&)>& visit,
                   std::string& error) override {
    return checkpoint_texts("audit_checkpoint", chain, visit, error);
  }

  bool add_cosignature(const std::string& chain, int64_t seq, const std::string& witness_key,
                       const std::string& text, std::string& error) override {
    Stmt st(db_,
            "INSERT OR IGNORE INTO audit_cosignature (chain, seq, witness, checkpoint)"
            " VALUES (?,?,?,?)");
    if (!st.ok() ||
        st.text(1, chain).num(2, seq).text(3, witness_key).text(4, text).step() != SQLITE_DONE)
      return fail(error);
    return true;
  }

  bool cosignatures(const std::string& chain, const std::function<void(const std::string&)>& visit,
                    std::string& error) override {
    return checkpoint_texts("audit_cosignature", chain, visit, error);
  }

  std::optional<std::string> attrs(const std::string& hash) override {
    Stmt st(db_, "SELECT attrs FROM audit_attrs WHERE hash = ?");
    if (!st.ok() || st.text(1, hash).step() != SQLITE_ROW) return std::nullopt;
    return st.col(0);
  }

  std::optional<Anchor> anchor(const std::string& chain) override {
    Stmt st(db_, "SELECT seq, checkpoint, frontier FROM audit_anchor WHERE chain = ?");
    if (!st.ok() || st.text(1, chain).step() != SQLITE_ROW) return std::nullopt;
    Anchor a;
    a.seq = st.col_num(0);
    a.checkpoint = st.col(1);
    auto f = parse_frontier(st.col(2));
    if (!f) return std::nullopt;
    a.frontier = std::move(*f);
    return a;
  }

  std::vector<std::pair<std::string, int64_t>> find(const std::string& id) override {
    // A scan of the records, done by SQLite (no index on the id: it would slow every insert).
    Stmt st(db_, "SELECT chain, seq FROM audit WHERE instr(record, ?) > 0 ORDER BY chain, seq");
    std::vector<std::pair<std::string, int64_t>> out;
    if (!st.ok()) return out;
    std::string needle = "\"request_id\":";
    append_json_string(needle, id);
    st.text(1, needle);
    while (st.step() == SQLITE_ROW) out.emplace_back(st.col(0), st.col_num(1));
    return out;
  }

  std::vector<std::string> chains() override {
    Stmt st(db_,
            "SELECT DISTINCT chain FROM audit UNION SELECT chain FROM audit_checkpoint UNION"
            " SELECT chain FROM audit_anchor ORDER BY 1");
    std::vector<std::string> out;
    while (st.ok() && st.step() == SQLITE_ROW) out.push_back(st.col(0));
    return out;
  }

  bool cut(const std::string& chain, const Anchor& a, std::string& error) override {
    {
      Stmt st(db_,
              "INSERT OR REPLACE INTO audit_anchor (chain, seq, checkpoint, frontier)"
              " VALUES (?,?,?,?)");
      if (!st.ok() || st.text(1, chain)
                              .num(2, a.seq)
                              .text(3, a.checkpoint)
                              .text(4, frontier_text(a.frontier))
                              .step() != SQLITE_DONE)
        return fail(error);
    }
    // Small transactions: the gateway's writer waits at most one of them.
    const char* steps[] = {
        "DELETE FROM audit WHERE rowid IN (SELECT rowid FROM audit WHERE chain = ?1 AND seq <= ?2"
        " LIMIT 5000)",
        "DELETE FROM audit_tree WHERE (chain, level, idx) IN (SELECT chain, level, idx FROM"
        " audit_tree WHERE chain = ?1 AND ((idx + 1) << level) <= ?2 LIMIT 5000)",
        "DELETE FROM audit_checkpoint WHERE chain = ?1 AND seq < ?2",
        "DELETE FROM audit_cosignature WHERE chain = ?1 AND seq < ?2"};
    for (const char* sql : steps) {
      for (;;) {
        Stmt st(db_, sql);
        if (!st.ok()) return fail(error);
        if (st.text(1, chain).num(2, a.seq).step() != SQLITE_DONE) return fail(error);
        if (sqlite3_changes(db_) == 0) break;
      }
    }
    return true;
  }

 private:
  // The checkpoints kept in `table` for `chain` (every chain when empty), in seq order.
  bool checkpoint_texts(const std::string& table, const std::string& chain,
                        const std::function<void(const std::string&)>& visit, std::string& error) {
    const std::string sql =
        "SELECT checkpoint FROM " + table +
        (chain.empty() ? " WHERE ? = '' ORDER BY chain, seq" : " WHERE chain = ? ORDER BY seq");
    Stmt st(db_, sql.c_str());
    if (!st.ok()) return fail(error);
    st.text(1, chain);
    int rc;
    while ((rc = st.step()) == SQLITE_ROW) visit(st.col(0));
    return rc == SQLITE_DONE || fail(error);
  }

  bool rows(Stmt& st, const std::function<bool(const StoredRow&)>& visit, std::string& error) {
    if (!st.ok()) return fail(error);
    StoredRow row;
    int rc;
    while ((rc = st.step()) == SQLITE_ROW) {
      row.chain = st.col(0);
      row.seq = st.col_num(1);
      row.prev_hash = st.col(2);
      row.hash = st.col(3);
      row.record = st.col(4);
      if (!visit(row)) return true;
    }
    return rc == SQLITE_DONE || fail(error);
  }

  bool fail(std::string& error) {
    error = sqlite3_errmsg(db_);
    return false;
  }

  bool rollback(std::string& error) {
    error = sqlite3_errmsg(db_);
    std::string ignored;
    exec("ROLLBACK", ignored);
    return false;
  }

  bool exec(const std::string& sql, std::string& error) {
    char* msg = nullptr;
    if (sqlite3_exec(db_, sql.c_str(), nullptr, nullptr, &msg) != SQLITE_OK) {
      error = msg ? msg : "sqlite error";
      sqlite3_free(msg);
      return false;
    }
    return true;
  }

  std::string path_;
  bool strict_;
  bool must_exist_;
  sqlite3* db_ = nullptr;
  sqlite3_stmt* insert_ = nullptr;
  sqlite3_stmt* insert_node_ = nullptr;
  std::unique_ptr<Stmt> node_;
  int lock_fd_ = -1;
};

}  // namespace

std::unique_ptr<Store> open_sqlite(const std::string& path, bool strict, bool must_exist) {
  return std::make_unique<SqliteStore>(path, strict, must_exist);
}

}  // namespace warden::audit
