// PostgreSQL store (libpq): several instances write to one database, each its own chain.
// Batches go in with COPY inside one transaction; a lost connection is re-established on the
// next attempt (the writer retries the batch). One writer per chain: a session advisory lock,
// taken again after a reconnect (another writer holding it by then fails the commit).
#include <libpq-fe.h>

#include "audit/audit.h"
#include "common/json_writer.h"

namespace warden::audit {

namespace {

class PostgresStore : public Store {
 public:
  explicit PostgresStore(std::string conninfo) : conninfo_(std::move(conninfo)) {}
  ~PostgresStore() override {
    PQfinish(conn_);
    PQfinish(side_);
  }

  bool open(std::string& error) override {
    if (!connect(error)) return false;
    return exec(
        "CREATE TABLE IF NOT EXISTS audit ("
        " chain TEXT NOT NULL, seq BIGINT NOT NULL, prev_hash TEXT NOT NULL,"
        " hash TEXT NOT NULL, record TEXT NOT NULL, PRIMARY KEY (chain, seq));"
        "CREATE TABLE IF NOT EXISTS audit_tree (chain TEXT NOT NULL, level INT NOT NULL,"
        " idx BIGINT NOT NULL, hash TEXT NOT NULL, PRIMARY KEY (chain, level, idx));"
        "CREATE TABLE IF NOT EXISTS audit_checkpoint (chain TEXT NOT NULL, seq BIGINT NOT NULL,"
        " checkpoint TEXT NOT NULL, PRIMARY KEY (chain, seq));"
        "CREATE TABLE IF NOT EXISTS audit_cosignature (chain TEXT NOT NULL, seq BIGINT NOT NULL,"
        " witness TEXT NOT NULL, checkpoint TEXT NOT NULL, PRIMARY KEY (chain, seq, witness));"
        "CREATE TABLE IF NOT EXISTS audit_anchor (chain TEXT PRIMARY KEY, seq BIGINT NOT NULL,"
        " checkpoint TEXT NOT NULL, frontier TEXT NOT NULL);"
        "CREATE TABLE IF NOT EXISTS audit_attrs (hash TEXT PRIMARY KEY, attrs TEXT NOT NULL)",
        error);
  }

  bool lock(const std::string& chain, std::string& error) override {
    lock_chain_ = chain;
    return connect(error) && take_lock(error);
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

  bool append(const std::string& chain, const Batch& b, std::string& error) override {
    const std::vector<StoredRow>& rows = b.rows;
    if (!connect(error)) return false;
    if (!exec("BEGIN", error)) return false;
    if (!rows.empty() && !copy_rows(rows, error)) return false;
    if (!b.nodes.empty()) {
      std::string levels = "{", idxs = "{", hashes = "{";
      for (const merkle::Node& n : b.nodes) {
        const char* sep = levels.size() > 1 ? "," : "";
        levels += sep + std::to_string(n.level);
        idxs += sep + std::to_string(n.index);
        hashes += sep + to_hex(n.hash);
      }
      levels += '}';
      idxs += '}';
      hashes += '}';
      const char* p[4] = {chain.c_str(), levels.c_str(), idxs.c_str(), hashes.c_str()};
      if (!command("INSERT INTO audit_tree (chain, level, idx, hash) SELECT $1, * FROM"
                   " unnest($2::int[], $3::bigint[], $4::text[]) ON CONFLICT DO NOTHING",
                   4, p))
        return fail(error);
    }
    for (const AttrSet& a : b.attrs) {
      const char* p[2] = {a.hash.c_str(), a.body.c_str()};
      if (!command("INSERT INTO audit_attrs (hash, attrs) VALUES ($1,$2) ON CONFLICT DO NOTHING", 2,
                   p))
        return fail(error);
    }
    for (const auto& [seq, text] : b.checkpoints) {
      const std::string s = std::to_string(seq);
      const char* p[3] = {chain.c_str(), s.c_str(), text.c_str()};
      if (!command("INSERT INTO audit_checkpoint (chain, seq, checkpoint) VALUES ($1,$2,$3)", 3, p))
        return fail(error);
    }
    return exec("COMMIT", error) || fail(error);
  }

  bool copy_rows(const std::vector<StoredRow>& rows, std::string& error) {
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
    return true;
  }

  bool scan(const std::function<bool(const StoredRow&)>& visit, std::string& error) override {
    return stream_rows("SELECT chain, seq, prev_hash, hash, record FROM audit ORDER BY chain, seq",
                       {}, visit, error);
  }

  bool scan_chain(const std::string& chain, int64_t from,
                  const std::function<bool(const StoredRow&)>& visit, std::string& error) override {
    return stream_rows(
        "SELECT chain, seq, prev_hash, hash, record FROM audit WHERE chain = $1 AND seq >= $2"
        " ORDER BY seq",
        {chain, std::to_string(from)}, visit, error);
  }

  std::optional<StoredRow> row(const std::string& chain, int64_t seq) override {
    std::optional<StoredRow> out;
    std::string error;
    stream_rows(
        "SELECT chain, seq, prev_hash, hash, record FROM audit WHERE chain = $1 AND seq = $2",
        {chain, std::to_string(seq)},
        [&](const StoredRow& r) {
          out = r;
          return true;
        },
        error);
    return out;
  }

  std::optional<Digest> tree_node(const std::string& chain, int level, int64_t index) override {
    const auto v =
        single("SELECT hash FROM audit_tree WHERE chain = $1 AND level = $2 AND idx = $3",
               {chain, std::to_string(level), std::to_string(index)});
    Digest d;
    if (v.empty() || !parse_hex_digest(v[0], d)) return std::nullopt;
    return d;
  }

  bool checkpoints(const std::string& chain, const std::function<void(const std::string&)>& visit,
                   std::string& error) override {
    return checkpoint_texts("audit_checkpoint", chain, visit, error);
  }

  bool add_cosignature(const std::string& chain, int64_t seq, const std::string& witness_key,
                       const std::string& text, std::string& error) override {
    if (!connect(error)) return false;
    const std::string s = std::to_string(seq);
    const char* p[4] = {chain.c_str(), s.c_str(), witness_key.c_str(), text.c_str()};
    if (!command("INSERT INTO audit_cosignature (chain, seq, witness, checkpoint)"
                 " VALUES ($1,$2,$3,$4) ON CONFLICT DO NOTHING",
                 4, p)) {
      error = PQerrorMessage(conn_);
      return false;
    }
    return true;
  }

  bool cosignatures(const std::string& chain, const std::function<void(const std::string&)>& visit,
                    std::string& error) override {
    return checkpoint_texts("audit_cosignature", chain, visit, error);
  }

  std::optional<std::string> attrs(const std::string& hash) override {
    // Asked while a scan streams rows on the main connection (to expand them): its own one.
    if (side_ == nullptr || PQstatus(side_) != CONNECTION_OK) {
      PQfinish(side_);
      side_ = PQconnectdb(conninfo_.c_str());
      if (PQstatus(side_) != CONNECTION_OK) return std::nullopt;
    }
    const char* p[1] = {hash.c_str()};
    PGresult* r = PQexecParams(side_, "SELECT attrs FROM audit_attrs WHERE hash = $1", 1, nullptr,
                               p, nullptr, nullptr, 0);
    std::optional<std::string> out;
    if (PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) == 1) out = PQgetvalue(r, 0, 0);
    PQclear(r);
    return out;
  }

  std::optional<Anchor> anchor(const std::string& chain) override {
    const auto v =
        single("SELECT seq, checkpoint, frontier FROM audit_anchor WHERE chain = $1", {chain});
    if (v.size() != 3) return std::nullopt;
    auto f = parse_frontier(v[2]);
    if (!f) return std::nullopt;
    return Anchor{std::stoll(v[0]), v[1], std::move(*f)};
  }

  std::vector<std::pair<std::string, int64_t>> find(const std::string& id) override {
    std::string needle = "\"request_id\":";
    append_json_string(needle, id);
    std::vector<std::pair<std::string, int64_t>> out;
    std::string error;
    stream_rows(
        "SELECT chain, seq, prev_hash, hash, record FROM audit WHERE strpos(record, $1) > 0"
        " ORDER BY chain, seq",
        {needle},
        [&](const StoredRow& r) {
          out.emplace_back(r.chain, r.seq);
          return true;
        },
        error);
    return out;
  }

  std::vector<std::string> chains() override {
    std::vector<std::string> out;
    std::string error;
    if (!connect(error)) return out;
    PGresult* r = PQexec(conn_,
                         "SELECT DISTINCT chain FROM audit UNION SELECT chain FROM audit_checkpoint"
                         " UNION SELECT chain FROM audit_anchor ORDER BY 1");
    if (PQresultStatus(r) == PGRES_TUPLES_OK)
      for (int i = 0; i < PQntuples(r); ++i) out.emplace_back(PQgetvalue(r, i, 0));
    PQclear(r);
    return out;
  }

  bool cut(const std::string& chain, const Anchor& a, std::string& error) override {
    if (!connect(error)) return false;
    const std::string seq = std::to_string(a.seq), frontier = frontier_text(a.frontier);
    const char* p[4] = {chain.c_str(), seq.c_str(), a.checkpoint.c_str(), frontier.c_str()};
    if (!command("INSERT INTO audit_anchor (chain, seq, checkpoint, frontier) VALUES ($1,$2,$3,$4)"
                 " ON CONFLICT (chain) DO UPDATE SET seq = $2, checkpoint = $3, frontier = $4",
                 4, p))
      return fail(error);
    // Small transactions: the gateway's writer waits at most one of them.
    const char* steps[] = {
        "DELETE FROM audit WHERE ctid IN (SELECT ctid FROM audit WHERE chain = $1 AND seq <= $2"
        " LIMIT 5000)",
        "DELETE FROM audit_tree WHERE ctid IN (SELECT ctid FROM audit_tree WHERE chain = $1"
        " AND ((idx + 1) << level) <= $2 LIMIT 5000)",
        "DELETE FROM audit_checkpoint WHERE chain = $1 AND seq < $2",
        "DELETE FROM audit_cosignature WHERE chain = $1 AND seq < $2"};
    for (const char* sql : steps) {
      for (;;) {
        PGresult* r = PQexecParams(conn_, sql, 2, nullptr, p, nullptr, nullptr, 0);
        const bool ok = PQresultStatus(r) == PGRES_COMMAND_OK;
        const std::string changed = ok ? PQcmdTuples(r) : "";
        PQclear(r);
        if (!ok) {
          error = PQerrorMessage(conn_);
          return false;
        }
        if (changed == "0" || changed.empty()) break;
      }
    }
    return true;
  }

 private:
  // The checkpoints kept in `table` for `chain` (every chain when empty), in seq order.
  bool checkpoint_texts(const std::string& table, const std::string& chain,
                        const std::function<void(const std::string&)>& visit, std::string& error) {
    if (!connect(error)) return false;
    const std::string sql =
        "SELECT checkpoint FROM " + table +
        (chain.empty() ? " WHERE $1 = '' ORDER BY chain, seq" : " WHERE chain = $1 ORDER BY seq");
    const char* p[1] = {chain.c_str()};
    PGresult* r = PQexecParams(conn_, sql.c_str(), 1, nullptr, p, nullptr, nullptr, 0);
    const bool ok = PQresultStatus(r) == PGRES_TUPLES_OK;
    if (!ok) error = PQerrorMessage(conn_);
    for (int i = 0; ok && i < PQntuples(r); ++i) visit(PQgetvalue(r, i, 0));
    PQclear(r);
    return ok;
  }

  bool stream_rows(const char* sql, const std::vector<std::string>& params,
                   const std::function<bool(const StoredRow&)>& visit, std::string& error) {
    if (!connect(error)) return false;
    std::vector<const char*> p;
    for (const auto& s : params) p.push_back(s.c_str());
    if (!PQsendQueryParams(conn_, sql, static_cast<int>(p.size()), nullptr, p.data(), nullptr,
                           nullptr, 0) ||
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
    return lock_chain_.empty() || take_lock(error);  // a new session: the lock again
  }

  bool take_lock(std::string& error) {
    const std::string key = "warden.audit:" + lock_chain_;
    const auto v = single("SELECT pg_try_advisory_lock(hashtextextended($1, 0))", {key});
    if (v.size() == 1 && v[0] == "t") return true;
    error = "another process is writing audit chain '" + lock_chain_ +
            "' in this database (its advisory lock is held): give each gateway its own " +
            "audit.instance";
    return false;
  }

  // The first row of a query's result, as text; empty when there is none or it failed.
  std::vector<std::string> single(const char* sql, const std::vector<std::string>& params) {
    std::vector<std::string> out;
    if (conn_ == nullptr || PQstatus(conn_) != CONNECTION_OK) {
      std::string ignored;
      if (!connect(ignored)) return out;
    }
    std::vector<const char*> p;
    for (const auto& s : params) p.push_back(s.c_str());
    PGresult* r = PQexecParams(conn_, sql, static_cast<int>(p.size()), nullptr, p.data(), nullptr,
                               nullptr, 0);
    if (PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) >= 1) {
      for (int i = 0; i < PQnfields(r); ++i) out.emplace_back(PQgetvalue(r, 0, i));
    }
    PQclear(r);
    return out;
  }

  bool command(const char* sql, int n, const char* const* params) {
    PGresult* r = PQexecParams(conn_, sql, n, nullptr, params, nullptr, nullptr, 0);
    const bool ok = PQresultStatus(r) == PGRES_COMMAND_OK;
    PQclear(r);
    return ok;
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
  std::string lock_chain_;
  PGconn* conn_ = nullptr;
  PGconn* side_ = nullptr;  // attrs() only
};

}  // namespace

std::unique_ptr<Store> open_postgres(const std::string& conninfo) {
  return std::make_unique<PostgresStore>(conninfo);
}

}  // namespace warden::audit
