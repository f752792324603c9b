// The process: N workers on their threads, the admin listener and the control thread that
// handles signals (SIGHUP and file changes reload, SIGTERM/SIGINT drain and stop).
#pragma once

#include <string>

namespace warden {

struct ServeOptions {
  std::string config_path;
};

// Runs until SIGTERM/SIGINT and the drain finish. Returns the process exit code.
int serve(const ServeOptions& options);

}  // namespace warden
