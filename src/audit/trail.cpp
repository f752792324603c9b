// Read-side helpers shared by the writer, the witness client and the commands.
#include <charconv>
#include <cstdio>

#include "audit/audit.h"
#include "common/json_writer.h"

namespace warden::audit {

merkle::NodeSource node_source(Store& store, const std::string& chain) {
  auto anchor = std::make_shared<std::optional<Anchor>>(store.anchor(chain));
  return [&store, chain, anchor](int level, int64_t index) -> std::optional<Digest> {
    if (*anchor) {  // a subtree at the archive's cut: kept in the anchor
      for (const merkle::Node& n : (*anchor)->frontier)
        if (n.level == level && n.index == index) return n.hash;
    }
    if (level > 0) return store.tree_node(chain, level, index);
    const auto row = store.row(chain, index + 1);
    if (!row) return std::nullopt;
    return merkle::leaf_hash(row->record);
  };
}

std::optional<merkle::Frontier> load_frontier(Store& store, const std::string& chain,
                                              int64_t size) {
  const merkle::NodeSource source = node_source(store, chain);
  std::vector<merkle::Node> nodes;
  for (const auto& [level, index] : merkle::Frontier::layout(size)) {
    auto h = source(level, index);
    if (!h) return std::nullopt;
    nodes.push_back({level, index, *h});
  }
  merkle::Frontier f;
  f.assign(size, std::move(nodes));
  return f;
}

void log_line(std::string_view level, const std::string& msg) {
  std::string line = "{\"level\":";
  append_json_string(line, level);
  line += ",\"msg\":";
  append_json_string(line, msg);
  line += "}\n";
  std::fputs(line.c_str(), stderr);
}

std::string frontier_text(const std::vector<merkle::Node>& nodes) {
  std::string out;
  for (const merkle::Node& n : nodes) {
    if (!out.empty()) out += ' ';
    out += std::to_string(n.level) + ':' + std::to_string(n.index) + ':' + to_hex(n.hash);
  }
  return out;
}

std::optional<std::vector<merkle::Node>> parse_frontier(std::string_view text) {
  std::vector<merkle::Node> out;
  while (!text.empty()) {
    const size_t end = std::min(text.find(' '), text.size());
    const std::string_view item = text.substr(0, end);
    text.remove_prefix(std::min(end + 1, text.size()));
    const size_t a = item.find(':'), b = item.rfind(':');
    if (a == std::string_view::npos || a == b) return std::nullopt;
    merkle::Node n;
    if (std::from_chars(item.data(), item.data() + a, n.level).ec != std::errc() ||
        std::from_chars(item.data() + a + 1, item.data() + b, n.index).ec != std::errc() ||
        !parse_hex_digest(item.substr(b + 1), n.hash))
      return std::nullopt;
    out.push_back(n);
  }
  return out;
}

}  // namespace warden::audit

namespace warden::audit {

bool Expander::operator()(std::string_view stored, std::string& out, std::string& error) {
  return expand_record(
      stored,
      [this](const std::string& hash) -> std::optional<std::string> {
        if (auto it = known_.find(hash); it != known_.end()) return it->second;
        auto body = store_.attrs(hash);
        if (body) known_.emplace(hash, *body);
        return body;
      },
      out, error);
}

}  // namespace warden::audit
