// Tools in a request: the ones the client runs, and the ones the provider runs for it (web search,
// file search, code execution, MCP servers), which send data to third parties Warden never sees.
// Read by the body walk (uninspectable.server_tools) and by the API stage (request.server_tools,
// request.mcp_hosts), so both agree on what a server tool is.
#pragma once

#include <cctype>
#include <string>
#include <string_view>

namespace warden {

// A `tools[].type` the client's own code answers: Responses' function, custom, computer, shell
// and patch tools; Anthropic's versioned bash_, text_editor_, computer_ and memory_ tools.
// Anything else — a type Warden does not know included — is run by the provider.
inline bool client_tool_type(std::string_view v) {
  for (std::string_view t : {"function", "custom", "computer_use_preview", "computer_use",
                             "local_shell", "shell", "apply_patch"}) {
    if (v == t) return true;
  }
  for (std::string_view prefix : {"bash_", "text_editor_", "computer_", "memory_"}) {
    if (v.substr(0, prefix.size()) == prefix) return true;
  }
  return false;
}

// The host of an absolute URL, lower-case, without user info or port; empty when there is none.
inline std::string url_host(std::string_view url) {
  const size_t scheme = url.find("://");
  if (scheme == std::string_view::npos) return {};
  std::string_view rest = url.substr(scheme + 3);
  rest = rest.substr(0, rest.find_first_of("/?#"));
  if (const size_t at = rest.rfind('@'); at != std::string_view::npos) rest.remove_prefix(at + 1);
  if (!rest.empty() && rest.front() == '[') {
    rest = rest.substr(0, rest.find(']') + 1);  // an IPv6 literal keeps its brackets
  } else {
    rest = rest.substr(0, rest.find(':'));
  }
  std::string host(rest);
  for (char& c : host) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return host;
}

}  // namespace warden
