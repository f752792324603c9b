// The Merkle tree over a chain's records (RFC 6962 hashing, as Certificate Transparency):
//   leaf = SHA-256(0x00 ‖ record), node = SHA-256(0x01 ‖ left ‖ right),
// the tree of n leaves split at the largest power of two below n. A checkpoint signs the root,
// so it commits to every record before it; inclusion and consistency proofs are RFC 6962's
// PATH and PROOF, built from the perfect subtrees the store keeps (`audit_tree`).
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string_view>
#include <vector>

#include "common/sha256.h"

namespace warden::audit::merkle {

Digest leaf_hash(std::string_view record);
Digest node_hash(const Digest& left, const Digest& right);
Digest empty_root();  // SHA-256 of nothing: the root of an empty tree

// One perfect subtree: leaves [index << level, (index + 1) << level).
struct Node {
  int level = 0;
  int64_t index = 0;
  Digest hash{};
};

// The perfect subtrees of the first `size` leaves, largest first (one per set bit of `size`):
// all that is needed to append further leaves and to compute the root.
class Frontier {
 public:
  int64_t size() const { return size_; }
  const std::vector<Node>& nodes() const { return nodes_; }
  // Appends a leaf; every perfect subtree it completes (level >= 1) is passed to `completed`.
  void append(const Digest& leaf, const std::function<void(const Node&)>& completed = nullptr);
  Digest root() const;
  // From stored nodes: false when `nodes` is not the decomposition of `size`.
  bool assign(int64_t size, std::vector<Node> nodes);
  // The (level, index) of the subtrees that make up the first `size` leaves, largest first.
  static std::vector<std::pair<int, int64_t>> layout(int64_t size);

 private:
  int64_t size_ = 0;
  std::vector<Node> nodes_;
};

// The hash of a perfect subtree (level, index); nullopt when the store cannot give it.
using NodeSource = std::function<std::optional<Digest>(int level, int64_t index)>;

// RFC 6962 §2.1.1 PATH(m, D[n]) for leaf m (0-based) of a tree of n leaves.
std::optional<std::vector<Digest>> inclusion_proof(int64_t m, int64_t n, const NodeSource& nodes);
// RFC 6962 §2.1.2 PROOF(m, D[n]) between trees of m and n leaves (0 < m <= n).
std::optional<std::vector<Digest>> consistency_proof(int64_t m, int64_t n, const NodeSource& nodes);
// The root of leaves [0, n) from stored perfect subtrees.
std::optional<Digest> root_of(int64_t n, const NodeSource& nodes);

// RFC 9162 §2.1.3.2 and §2.1.4.2: the verification algorithms.
bool verify_inclusion(int64_t m, int64_t n, const Digest& leaf, const std::vector<Digest>& path,
                      const Digest& root);
bool verify_consistency(int64_t m, int64_t n, const Digest& old_root, const Digest& new_root,
                        const std::vector<Digest>& proof);

}  // namespace warden::audit::merkle
