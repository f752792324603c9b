// The gateway's audit writer as the configuration describes it (store, durability, checkpoints).
#pragma once

#include <memory>

#include "audit/audit.h"
#include "config/config.h"

namespace warden::audit {

// Throws std::runtime_error when a signing key cannot be used (missing, not private, not Ed25519).
std::unique_ptr<Writer> open_writer(const AuditConfig& config);

}  // namespace warden::audit
