#include <sqlite3.h>

#include "audit/audit.h"

namespace warden::audit {

namespace {

class SqliteStore : public Store {
 public:
  SqliteStore(std::string path, bool strict) : path_(std::move(path)), strict_(strict) {}
  ~SqliteStore() override {
    sqlite3_finalize(insert_);
    sqlite3_close(db_);
  }

  bool open(std::string& error) override {
    if (sqlite3_open_v2(path_.c_str(), &db_, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, nullptr) !=
        SQLITE_OK) {
      error = "cannot open " + path_ + ": " + sqlite3_errmsg(db_);
      return false;
    }
    sqlite3_busy_timeout(db_, 2000);
    // Checkpoints in larger steps: the WAL is folded into the database less often.
    const std::string sql = std::string(
                                "PRAGMA journal_mode=WAL; PRAGMA wal_autocheckpoint=16384; "
                                "PRAGMA synchronous=") +
                            (strict_ ? "FULL" : "NORMAL") +
                            ";"
                            "CREATE TABLE IF NOT EXISTS audit ("
                            " chain TEXT NOT NULL, seq INTEGER NOT NULL, prev_hash TEXT NOT NULL,"
                            " hash TEXT NOT NULL, record TEXT NOT NULL,"
                            " PRIMARY KEY (chain, seq));";
    if (!exec(sql, error)) return false;
    if (sqlite3_prepare_v2(
            db_, "INSERT INTO audit (chain, seq, prev_hash, hash, record) VALUES (?,?,?,?,?)", -1,
            &insert_, nullptr) != SQLITE_OK) {
      error = sqlite3_errmsg(db_);
      return false;
    }
    return true;
  }

  bool head(const std::string& chain, int64_t& seq, std::string& hash,
            std::string& error) override {
    sqlite3_stmt* st = nullptr;
    if (sqlite3_prepare_v2(db_,
                           "SELECT seq, hash FROM audit WHERE chain = ? ORDER BY seq DESC LIMIT 1",
                           -1, &st, nullptr) != SQLITE_OK) {
      error = sqlite3_errmsg(db_);
      return false;
    }
    sqlite3_bind_text(st, 1, chain.c_str(), -1, SQLITE_TRANSIENT);
    seq = 0;
    hash.clear();
    const int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
      seq = sqlite3_column_int64(st, 0);
      hash = reinterpret_cast<const char*>(sqlite3_column_text(st, 1));
    }
    sqlite3_finalize(st);
    if (rc != SQLITE_ROW && rc != SQLITE_DONE) {
      error = sqlite3_errmsg(db_);
      return false;
    }
    return true;
  }

  bool append(const std::vector<StoredRow>& rows, std::string& error) override {
    if (!exec("BEGIN IMMEDIATE", error)) return false;
    for (const StoredRow& r : rows) {
      sqlite3_reset(insert_);
      sqlite3_bind_text(insert_, 1, r.chain.data(), static_cast<int>(r.chain.size()),
                        SQLITE_STATIC);
      sqlite3_bind_int64(insert_, 2, r.seq);
      sqlite3_bind_text(insert_, 3, r.prev_hash.data(), static_cast<int>(r.prev_hash.size()),
                        SQLITE_STATIC);
      sqlite3_bind_text(insert_, 4, r.hash.data(), static_cast<int>(r.hash.size()), SQLITE_STATIC);
      sqlite3_bind_text(insert_, 5, r.record.data(), static_cast<int>(r.record.size()),
                        SQLITE_STATIC);
      if (sqlite3_step(insert_) != SQLITE_DONE) {
        error = sqlite3_errmsg(db_);
        std::string ignored;
        exec("ROLLBACK", ignored);
        return false;
      }
    }
    if (!exec("COMMIT", error)) {
      std::string ignored;
      exec("ROLLBACK", ignored);
      return false;
    }
    return true;
  }

  bool scan(const std::function<bool(const StoredRow&)>& visit, std::string& error) override {
    sqlite3_stmt* st = nullptr;
    if (sqlite3_prepare_v2(
            db_, "SELECT chain, seq, prev_hash, hash, record FROM audit ORDER BY chain, seq", -1,
            &st, nullptr) != SQLITE_OK) {
      error = sqlite3_errmsg(db_);
      return false;
    }
    StoredRow row;
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
      auto text = [&](int col) {
        const unsigned char* t = sqlite3_column_text(st, col);
        return t ? std::string(reinterpret_cast<const char*>(t)) : std::string();
      };
      row.chain = text(0);
      row.seq = sqlite3_column_int64(st, 1);
      row.prev_hash = text(2);
      row.hash = text(3);
      row.record = text(4);
      if (!visit(row)) break;
    }
    const bool ok = rc == SQLITE_ROW || rc == SQLITE_DONE;
    if (!ok) error = sqlite3_errmsg(db_);
    sqlite3_finalize(st);
    return ok;
  }

 private:
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
  sqlite3* db_ = nullptr;
  sqlite3_stmt* insert_ = nullptr;
};

}  // namespace

std::unique_ptr<Store> open_sqlite(const std::string& path, bool strict) {
  return std::make_unique<SqliteStore>(path, strict);
}

}  // namespace warden::audit
