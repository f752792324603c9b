// The gateway's audit writer as the configuration describes it (store, durability, checkpoints).
#pragma once

#include <memory>

#include "audit/audit.h"
#include "config/config.h"

namespace warden::audit {

// Throws std::runtime_error when a signing key cannot be used (missing, not private, not Ed25519).
std::unique_ptr<Writer> open_writer(const AuditConfig& config);

// The checkpoint settings alone (keys loaded, witnesses with their own store connection), for a
// reload (Writer::reconfigure). Throws like open_writer.
CheckpointOptions checkpoint_options(const AuditConfig& config);

// Whether two configurations' checkpoint settings differ (a reload that changes none of them
// leaves the writer alone).
bool checkpoints_changed(const AuditConfig& a, const AuditConfig& b);

}  // namespace warden::audit
