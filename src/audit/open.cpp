#include "audit/open.h"

#include "audit/witness.h"

namespace warden::audit {

std::unique_ptr<Writer> open_writer(const AuditConfig& a) {
  auto make_store = [a]() {
    return a.postgres.empty() ? open_sqlite(a.path, a.strict) : open_postgres(a.postgres);
  };
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
          a.checkpoints.witnesses, a.checkpoints.witness_timeout_ms, make_store(), a.instance);
    }
  }
  return std::make_unique<Writer>(make_store(),
                                  a.strict ? Durability::kStrict : Durability::kBatched, a.instance,
                                  a.max_buffer, std::move(cp));
}

}  // namespace warden::audit
