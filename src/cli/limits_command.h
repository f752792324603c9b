#pragma once

#include <string>

namespace warden::cli {

// `warden limits show`: what the limit store holds, one line per limit key. The in-process store
// is read through the running gateway's admin listener (GET /limits); Redis is read directly.
int run_limits_show(const std::string& config_path);

}  // namespace warden::cli
