// PostgreSQL store (libpq): several instances write to one database, each its own chain.
// Batches go in with COPY inside one transaction; a lost connection is re-established on the
// next attempt (the writer retries the batch).
#include <libpq-fe.h>

#include "audit/audit.h"

namespace warden::audit {

namespace {

class PostgresStore : public Store {
 public:
  explicit PostgresStore(std::string conninfo) : conninfo_(std::move(conninfo)) {}
  ~PostgresStore() override { PQfinish(conn_); }

  bool open(std::string& error) override {
    if (!connect(error)) return false;
    return exec(
        "CREATE TABLE IF NOT EXISTS audit ("
        " chain TEXT NOT NULL, seq BIGINT NOT NULL, prev_hash TEXT NOT NULL,"
        " hash TEXT NOT NULL, record TEXT NOT NULL, PRIMARY KEY (chain, seq))",
        error);
  }

  bool head(const std::string& chain, int64_t& seq, std::string& hash,
            std::string& error) override {
    if (!connect(error)) return false;
    const char* params[1] = {chain.c_str()};
    PGresult* r = PQexecParams(
        conn_, "SELECT seq, hash FROM audit WHERE chain = $1 ORDER BY seq DESC LIMIT 1", 1, nullptr,
        params, nullptr, nullptr, 0);
    const bool ok = PQresultStatus(r) == PGRES_TUPLES_OK;
    if (!ok) error = PQerrorMessage(conn_);
    seq = 0;
    hash.clear();
    if (ok && PQntuples(r) == 1) {
      seq = std::stoll(PQgetvalue(r, 0, 0));
      hash = PQgetvalue(r, 0, 1);
    }
    PQclear(r);
    return ok;
  }

  bool append(const std::vector<StoredRow>& rows, std::string& error) override {
    if (!connect(error)) return false;
    if (!exec("BEGIN", error)) return false;
    PGresult* r = PQexec(conn_, "COPY audit (chain, seq, prev_hash, hash, record) FROM STDIN");
    const bool copying = PQresultStatus(r) == PGRES_COPY_IN;
    PQclear(r);
    if (!copying) return fail(error);
    std::string buf;
    for (const StoredRow& row : rows) {
      buf.clear();
      field(buf, row.chain);
      buf += '\t';
      buf += std::to_string(row.seq);
      buf += '\t';
      field(buf, row.prev_hash);
      buf += '\t';
      field(buf, row.hash);
      buf += '\t';
      field(buf, row.record);
      buf += '\n';
      if (PQputCopyData(conn_, buf.data(), static_cast<int>(buf.size())) != 1) return fail(error);
    }
    if (PQputCopyEnd(conn_, nullptr) != 1) return fail(error);
    r = PQgetResult(conn_);
    const bool copied = PQresultStatus(r) == PGRES_COMMAND_OK;
    PQclear(r);
    while ((r = PQgetResult(conn_)) != nullptr) PQclear(r);
    if (!copied) return fail(error);
    return exec("COMMIT", error) || fail(error);
  }

  bool scan(const std::function<bool(const StoredRow&)>& visit, std::string& error) override {
    if (!connect(error)) return false;
    if (!PQsendQuery(conn_,
                     "SELECT chain, seq, prev_hash, hash, record FROM audit ORDER BY chain, seq") ||
        !PQsetSingleRowMode(conn_)) {
      error = PQerrorMessage(conn_);
      return false;
    }
    StoredRow row;
    bool ok = true;
    bool stop = false;
    PGresult* r;
    while ((r = PQgetResult(conn_)) != nullptr) {
      const ExecStatusType st = PQresultStatus(r);
      if (st == PGRES_SINGLE_TUPLE && !stop) {
        row.chain = PQgetvalue(r, 0, 0);
        row.seq = std::stoll(PQgetvalue(r, 0, 1));
        row.prev_hash = PQgetvalue(r, 0, 2);
        row.hash = PQgetvalue(r, 0, 3);
        row.record = PQgetvalue(r, 0, 4);
        stop = !visit(row);
      } else if (st != PGRES_TUPLES_OK && st != PGRES_SINGLE_TUPLE) {
        error = PQerrorMessage(conn_);
        ok = false;
      }
      PQclear(r);
    }
    return ok;
  }

 private:
  // COPY text format: backslash, tab, newline and carriage return are escaped.
  static void field(std::string& out, const std::string& v) {
    for (char c : v) {
      switch (c) {
        case '\\':
          out += "\\\\";
          break;
        case '\t':
          out += "\\t";
          break;
        case '\n':
          out += "\\n";
          break;
        case '\r':
          out += "\\r";
          break;
        default:
          out.push_back(c);
      }
    }
  }

  bool connect(std::string& error) {
    if (conn_ != nullptr && PQstatus(conn_) == CONNECTION_OK) return true;
    if (conn_ != nullptr) {
      PQreset(conn_);
    } else {
      conn_ = PQconnectdb(conninfo_.c_str());
    }
    if (PQstatus(conn_) != CONNECTION_OK) {
      error = PQerrorMessage(conn_);
      return false;
    }
    return true;
  }

  bool exec(const char* sql, std::string& error) {
    PGresult* r = PQexec(conn_, sql);
    const bool ok = PQresultStatus(r) == PGRES_COMMAND_OK;
    if (!ok) error = PQerrorMessage(conn_);
    PQclear(r);
    return ok;
  }

  bool fail(std::string& error) {
    error = PQerrorMessage(conn_);
    PGresult* r = PQexec(conn_, "ROLLBACK");
    PQclear(r);
    return false;
  }

  std::string conninfo_;
  PGconn* conn_ = nullptr;
};

}  // namespace

std::unique_ptr<Store> open_postgres(const std::string& conninfo) {
  return std::make_unique<PostgresStore>(conninfo);
}

}  // namespace warden::audit
