#include "audit/open.h"

#include "audit/witness.h"

namespace warden::audit {

namespace {

std::unique_ptr<Store> make_store(const AuditConfig& a) {
  return a.postgres.empty() ? open_sqlite(a.path, a.strict) : open_postgres(a.postgres);
}

}  // namespace

CheckpointOptions checkpoint_options(const AuditConfig& a) {
  CheckpointOptions cp;
  if (!a.checkpoints.key_file.empty()) {
    cp.key = std::make_shared<const Key>(Key::load_private(a.checkpoints.key_file));
    if (!a.checkpoints.previous_key_file.empty())
      cp.previous_key =
          std::make_shared<const Key>(Key::load_private(a.checkpoints.previous_key_file));
    cp.every_records = a.checkpoints.every_records;
    cp.every_ms = a.checkpoints.every_ms;
    cp.log = a.checkpoints.log;
    if (!a.checkpoints.witnesses.empty()) {
      // Its own store connection: proofs are read off the audit thread.
      cp.sink = std::make_unique<WitnessClient>(
          a.checkpoints.witnesses, a.checkpoints.witness_timeout_ms, make_store(a), a.instance);
    }
  }
  return cp;
}

bool checkpoints_changed(const AuditConfig& a, const AuditConfig& b) {
  const auto& x = a.checkpoints;
  const auto& y = b.checkpoints;
  return x.key_file != y.key_file || x.previous_key_file != y.previous_key_file ||
         x.every_records != y.every_records || x.every_ms != y.every_ms || x.log != y.log ||
         x.witnesses != y.witnesses || x.witness_timeout_ms != y.witness_timeout_ms;
}

std::unique_ptr<Writer> open_writer(const AuditConfig& a) {
  return std::make_unique<Writer>(make_store(a),
                                  a.strict ? Durability::kStrict : Durability::kBatched, a.instance,
                                  a.max_buffer, checkpoint_options(a));
}

}  // namespace warden::audit
