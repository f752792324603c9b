// RFC 6962 / RFC 9162 Merkle hashing and proofs. Written here rather than taken from a library:
// Debian 12 packages no C/C++ transparency-log library, and the algorithms are a few recursive
// lines each (the verifiers follow RFC 9162's text step by step).
#include "audit/merkle.h"

#include <bit>

namespace warden::audit::merkle {

namespace {

std::string_view view(const Digest& d) {
  return {reinterpret_cast<const char*>(d.data()), d.size()};
}

int64_t largest_power_below(int64_t n) {  // the largest power of two < n (n >= 2)
  return int64_t{1} << (63 - std::countl_zero(static_cast<uint64_t>(n - 1)));
}

bool is_power_of_two(int64_t n) {
  return n > 0 && (n & (n - 1)) == 0;
}

// MTH(D[lo:hi]) as RFC 6962 splits it: every left part is a perfect, aligned subtree.
std::optional<Digest> range_hash(int64_t lo, int64_t hi, const NodeSource& nodes) {
  const int64_t n = hi - lo;
  if (is_power_of_two(n)) {
    const int level = std::countr_zero(static_cast<uint64_t>(n));
    return nodes(level, lo >> level);
  }
  const int64_t k = largest_power_below(n);
  auto l = range_hash(lo, lo + k, nodes);
  auto r = range_hash(lo + k, hi, nodes);
  if (!l || !r) return std::nullopt;
  return node_hash(*l, *r);
}

bool path(int64_t m, int64_t lo, int64_t hi, const NodeSource& nodes, std::vector<Digest>& out) {
  const int64_t n = hi - lo;
  if (n == 1) return true;
  const int64_t k = largest_power_below(n);
  std::optional<Digest> sibling;
  if (m - lo < k) {
    if (!path(m, lo, lo + k, nodes, out)) return false;
    sibling = range_hash(lo + k, hi, nodes);
  } else {
    if (!path(m, lo + k, hi, nodes, out)) return false;
    sibling = range_hash(lo, lo + k, nodes);
  }
  if (!sibling) return false;
  out.push_back(*sibling);
  return true;
}

bool subproof(int64_t m, int64_t lo, int64_t hi, bool whole, const NodeSource& nodes,
              std::vector<Digest>& out) {
  const int64_t n = hi - lo;
  if (m == n) {
    if (whole) return true;
    auto h = range_hash(lo, hi, nodes);
    if (!h) return false;
    out.push_back(*h);
    return true;
  }
  const int64_t k = largest_power_below(n);
  std::optional<Digest> other;
  if (m <= k) {
    if (!subproof(m, lo, lo + k, whole, nodes, out)) return false;
    other = range_hash(lo + k, hi, nodes);
  } else {
    if (!subproof(m - k, lo + k, hi, false, nodes, out)) return false;
    other = range_hash(lo, lo + k, nodes);
  }
  if (!other) return false;
  out.push_back(*other);
  return true;
}

// RFC 9162's "right-shift both fn and sn equally until either LSB(fn) is set or fn is 0", after
// which both shift once more (steps 4b–4c of inclusion, 6b–6c of consistency).
void shift(uint64_t& fn, uint64_t& sn, bool left_sibling) {
  if (left_sibling && !(fn & 1)) {
    while (!(fn & 1) && fn != 0) {
      fn >>= 1;
      sn >>= 1;
    }
  }
  fn >>= 1;
  sn >>= 1;
}

}  // namespace

Digest leaf_hash(std::string_view record) {
  static constexpr char kLeaf = 0x00;
  return sha256({std::string_view(&kLeaf, 1), record});
}

Digest node_hash(const Digest& left, const Digest& right) {
  static constexpr char kNode = 0x01;
  return sha256({std::string_view(&kNode, 1), view(left), view(right)});
}

Digest empty_root() {
  return sha256(std::string_view());
}

void Frontier::append(const Digest& leaf, const std::function<void(const Node&)>& completed) {
  Node cur{0, size_, leaf};
  while (!nodes_.empty() && nodes_.back().level == cur.level) {
    cur = Node{cur.level + 1, cur.index >> 1, node_hash(nodes_.back().hash, cur.hash)};
    nodes_.pop_back();
    if (completed) completed(cur);
  }
  nodes_.push_back(cur);
  ++size_;
}

Digest Frontier::root() const {
  if (nodes_.empty()) return empty_root();
  Digest r = nodes_.back().hash;
  for (size_t i = nodes_.size() - 1; i-- > 0;) r = node_hash(nodes_[i].hash, r);
  return r;
}

std::vector<std::pair<int, int64_t>> Frontier::layout(int64_t size) {
  std::vector<std::pair<int, int64_t>> out;
  for (int level = 62; level >= 0; --level) {
    if ((size >> level) & 1) out.emplace_back(level, (size >> level) - 1);
  }
  return out;
}

bool Frontier::assign(int64_t size, std::vector<Node> nodes) {
  const auto want = layout(size);
  if (want.size() != nodes.size()) return false;
  for (size_t i = 0; i < want.size(); ++i) {
    if (nodes[i].level != want[i].first || nodes[i].index != want[i].second) return false;
  }
  size_ = size;
  nodes_ = std::move(nodes);
  return true;
}

std::optional<std::vector<Digest>> inclusion_proof(int64_t m, int64_t n, const NodeSource& nodes) {
  if (m < 0 || m >= n) return std::nullopt;
  std::vector<Digest> out;
  if (!path(m, 0, n, nodes, out)) return std::nullopt;
  return out;
}

std::optional<std::vector<Digest>> consistency_proof(int64_t m, int64_t n,
                                                     const NodeSource& nodes) {
  if (m <= 0 || m > n) return std::nullopt;
  std::vector<Digest> out;
  if (!subproof(m, 0, n, true, nodes, out)) return std::nullopt;
  return out;
}

std::optional<Digest> root_of(int64_t n, const NodeSource& nodes) {
  if (n == 0) return empty_root();
  return range_hash(0, n, nodes);
}

bool verify_inclusion(int64_t m, int64_t n, const Digest& leaf, const std::vector<Digest>& path,
                      const Digest& root) {
  if (m < 0 || m >= n) return false;
  uint64_t fn = static_cast<uint64_t>(m), sn = static_cast<uint64_t>(n - 1);
  Digest r = leaf;
  for (const Digest& p : path) {
    if (sn == 0) return false;
    const bool left = (fn & 1) || fn == sn;  // p is the left sibling
    r = left ? node_hash(p, r) : node_hash(r, p);
    shift(fn, sn, left);
  }
  return sn == 0 && r == root;
}

bool verify_consistency(int64_t m, int64_t n, const Digest& old_root, const Digest& new_root,
                        const std::vector<Digest>& proof) {
  if (m <= 0 || m > n) return false;
  if (m == n) return proof.empty() && old_root == new_root;
  if (proof.empty()) return false;
  std::vector<Digest> path;
  if (is_power_of_two(m)) path.push_back(old_root);
  path.insert(path.end(), proof.begin(), proof.end());
  uint64_t fn = static_cast<uint64_t>(m - 1), sn = static_cast<uint64_t>(n - 1);
  while (fn & 1) {
    fn >>= 1;
    sn >>= 1;
  }
  Digest fr = path[0], sr = path[0];
  for (size_t i = 1; i < path.size(); ++i) {
    const Digest& c = path[i];
    if (sn == 0) return false;
    const bool left = (fn & 1) || fn == sn;
    if (left) {
      fr = node_hash(c, fr);
      sr = node_hash(c, sr);
    } else {
      sr = node_hash(sr, c);
    }
    shift(fn, sn, left);
  }
  return fr == old_root && sr == new_root && sn == 0;
}

}  // namespace warden::audit::merkle
