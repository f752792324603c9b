#include <unistd.h>

#include <chrono>
#include <cstdio>

#include "audit/audit.h"
#include "common/json_writer.h"

namespace warden::audit {

namespace {

int64_t now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

}  // namespace

Writer::Writer(std::unique_ptr<Store> store, Durability durability, std::string instance,
               size_t max_buffer, CheckpointOptions checkpoints)
    : store_(std::move(store)),
      durability_(durability),
      instance_(std::move(instance)),
      max_buffer_(max_buffer),
      cp_(std::move(checkpoints)) {
  if (cp_.sink)
    cp_.sink->on_countersigned([this](const std::string& w, int64_t seq, const std::string& copy) {
      keep_countersigned(w, seq, copy);
    });
}

bool Writer::start(std::string& error) {
  if (!store_->open(error)) return false;
  if (!store_->lock(instance_, error)) return false;
  if (!store_->head(instance_, seq_, hash_, error)) return false;
  // The Merkle frontier at the head; a store written before the tree existed gets its subtrees
  // computed once from its records.
  if (auto f = load_frontier(*store_, instance_, seq_)) {
    frontier_ = std::move(*f);
  } else {
    const auto anchor = store_->anchor(instance_);
    merkle::Frontier f2;
    if (anchor && !f2.assign(anchor->seq, anchor->frontier)) {
      error = "the archive anchor of chain " + instance_ + " is malformed";
      return false;
    }
    Batch nodes;
    bool ok = store_->scan_chain(
        instance_, f2.size() + 1,
        [&](const StoredRow& row) {
          f2.append(merkle::leaf_hash(row.record),
                    [&](const merkle::Node& n) { nodes.nodes.push_back(n); });
          if (nodes.nodes.size() >= 65536) {
            if (!store_->append(instance_, nodes, error)) return false;
            nodes.nodes.clear();
          }
          return true;
        },
        error);
    if (!ok || !store_->append(instance_, nodes, error)) return false;
    if (f2.size() != seq_) {
      error = "chain " + instance_ + " has gaps; run warden audit verify";
      return false;
    }
    frontier_ = std::move(f2);
  }
  if (hash_.empty()) hash_ = std::string(64, '0');
  if (cp_.key) {
    std::string last;
    if (!store_->checkpoints(
            instance_, [&](const std::string& t) { last = t; }, error))
      return false;
    if (auto c = parse_checkpoint(last)) {
      cp_seq_ = c->seq;
      std::lock_guard lock(cp_mu_);
      latest_ = last;
      if (c->key != cp_.key->fingerprint()) {
        if (!cp_.previous_key || cp_.previous_key->fingerprint() != c->key) {
          error = "the checkpoint key changed (chain " + instance_ + " is signed by key " + c->key +
                  "): name the old key as audit.checkpoints.previous_key_file so the " +
                  "next checkpoint is signed by both";
          return false;
        }
        rotating_ = true;
      }
    }
    // The witnesses' countersignatures kept before this start: GET /audit/checkpoint serves
    // each witness's newest.
    if (!store_->cosignatures(
            instance_,
            [&](const std::string& t) {
              if (auto copy = parse_checkpoint(t))
                for (const auto& w : copy->cosignatures) keep_countersigned(w.key, copy->seq, t);
            },
            error))
      return false;
  }
  cp_time_ = std::chrono::steady_clock::now();
  thread_ = std::thread([this] { run(); });
  return true;
}

void Writer::reconfigure(CheckpointOptions next) {
  {
    std::lock_guard lock(mu_);
    next_cp_ = std::move(next);
  }
  cv_.notify_all();
}

// On the audit thread, between batches.
void Writer::take_checkpoint_options(CheckpointOptions next) {
  if (!cp_.key || !next.key) {
    if (cp_.key || next.key)
      log_line("error", "audit checkpoints are turned on or off only by a restart: unchanged");
    return;
  }
  if (next.key->fingerprint() != cp_.key->fingerprint()) {
    // The chain's newest checkpoint is the old key's: the next one is signed by both, so a
    // verifier that trusts the old key is led to the new one.
    next.previous_key = cp_.key;
    rotating_ = cp_seq_ > 0;
  } else if (rotating_) {
    next.previous_key = cp_.previous_key;  // a rotation not yet checkpointed stays one
  }
  if (next.sink)
    next.sink->on_countersigned([this](const std::string& w, int64_t seq, const std::string& copy) {
      keep_countersigned(w, seq, copy);
    });
  std::unique_ptr<CheckpointSink> old_sink;
  {
    std::lock_guard lock(cp_mu_);  // witness_failures() reads the sink from other threads
    old_sink = std::move(cp_.sink);
    if (old_sink) past_witness_failures_ += old_sink->failures();
    cp_ = std::move(next);
  }
  // The old witnesses' client sends what it holds (bounded by its timeouts), then stops.
  old_sink.reset();
  log_line("info", "audit checkpoint settings reloaded");
}

Writer::~Writer() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
  cp_.sink.reset();  // witnesses: sends what it holds (bounded by its timeouts), then stops
}

bool Writer::accepting() const {
  if (healthy_.load(std::memory_order_relaxed)) return true;
  if (durability_ == Durability::kStrict) return false;
  std::lock_guard lock(mu_);
  return queue_.size() + reserved_ < max_buffer_;
}

size_t Writer::queued() const {
  std::lock_guard lock(mu_);
  return queue_.size();
}

void Writer::keep_countersigned(const std::string& witness, int64_t seq, const std::string& copy) {
  std::lock_guard lock(cp_mu_);
  auto& newest = countersigned_[witness];
  if (newest.second.empty() || seq >= newest.first) newest = {seq, copy};
}

std::string Writer::latest_checkpoint() const {
  std::string latest;
  std::vector<std::string> copies;
  {
    std::lock_guard lock(cp_mu_);
    latest = latest_;
    for (const auto& [witness, copy] : countersigned_) copies.push_back(copy.second);
  }
  auto top = parse_checkpoint(latest);
  if (!top || copies.empty()) return latest;
  // A witness's countersignature of the newest checkpoint goes on it; one of an older checkpoint
  // (the witness has not answered for the newest yet, or refused it) comes with that checkpoint,
  // whose body it signs: either way an outsider checks it with the witness's public key alone.
  top->cosignatures.clear();
  std::map<std::pair<int64_t, std::string>, Checkpoint, std::greater<>> older;
  for (const std::string& t : copies) {
    auto copy = parse_checkpoint(t);
    if (!copy) continue;
    if (copy->body == top->body) {
      for (auto& w : copy->cosignatures) top->cosignatures.push_back(std::move(w));
      continue;
    }
    auto [it, fresh] = older.try_emplace({copy->seq, copy->body}, *copy);
    if (!fresh)
      for (auto& w : copy->cosignatures) it->second.cosignatures.push_back(std::move(w));
  }
  std::string out = top->text();
  if (older.empty()) return out;
  out.pop_back();  // the closing brace
  out += ",\"countersigned\":[";
  for (auto it = older.begin(); it != older.end(); ++it)
    out += (it == older.begin() ? "" : ",") + it->second.text();
  return out + "]}";
}

uint64_t Writer::witness_failures() const {
  std::lock_guard lock(cp_mu_);  // a reload may replace the sink meanwhile
  return past_witness_failures_ + (cp_.sink ? cp_.sink->failures() : 0);
}

bool Writer::reserve() {
  std::lock_guard lock(mu_);
  if (queue_.size() + reserved_ >= max_buffer_) return false;
  if (!healthy_.load(std::memory_order_relaxed) && durability_ == Durability::kStrict) return false;
  ++reserved_;
  return true;
}

void Writer::unreserve() {
  std::lock_guard lock(mu_);
  if (reserved_ > 0) --reserved_;
}

bool Writer::submit(Record record, std::function<void()> committed, bool reserved,
                    std::shared_ptr<Ticket> ticket) {
  {
    std::lock_guard lock(mu_);
    if (reserved) {
      if (reserved_ > 0) --reserved_;
    } else {
      if (queue_.size() + reserved_ >= max_buffer_) return false;
      if (!healthy_.load(std::memory_order_relaxed) && durability_ == Durability::kStrict)
        return false;
    }
    queue_.push_back({std::move(record), std::move(committed), std::move(ticket)});
    ++submitted_;
  }
  // Strict requests wait for their commit: wake the writer at once (group commit still batches
  // whatever else has arrived). Batched records wait for the 50 ms tick.
  if (durability_ == Durability::kStrict) cv_.notify_one();
  return true;
}

void DoorCounter::count(std::string_view address, std::string_view reason, int status,
                        int64_t now_ms) {
  std::lock_guard lock(mu_);
  if (counts_.empty()) since_ms_ = now_ms;
  auto key = std::make_tuple(std::string(address), std::string(reason), status);
  auto it = counts_.find(key);
  if (it == counts_.end()) {
    if (counts_.size() >= kKeys) std::get<0>(key) = "*";  // beyond the bound: one bucket
    it = counts_.try_emplace(std::move(key), Count{now_ms, 0}).first;
  }
  ++it->second.count;
}

std::vector<Record> DoorCounter::take(const std::string& instance, int64_t now_ms, bool all) {
  std::map<std::tuple<std::string, std::string, int>, Count> taken;
  {
    std::lock_guard lock(mu_);
    if (counts_.empty() || (!all && now_ms - since_ms_ < kWindowMs)) return {};
    taken.swap(counts_);
  }
  std::vector<Record> out;
  out.reserve(taken.size());
  for (auto& [key, c] : taken) {
    Record& r = out.emplace_back();
    r.ts_ms = c.first_ms;
    r.instance = instance;
    r.decision = "refused";
    r.remote_address = std::move(std::get<0>(key));
    r.error = std::move(std::get<1>(key));
    r.status = std::get<2>(key);
    r.count = c.count;
  }
  return out;
}

void Writer::refused(std::string_view address, std::string_view reason, int status) {
  door_.count(address, reason, status, now_ms());
}

void Writer::take_refusals(std::vector<Item>& batch, bool all) {
  std::vector<Record> records = door_.take(instance_, now_ms(), all);
  for (Record& r : records) batch.push_back({std::move(r), nullptr, nullptr});
  submitted_ += records.size();  // flush() waits for them as for any record
}

void Writer::flush() {
  const uint64_t target = submitted_.load();
  const uint64_t failures = failures_.load();
  cv_.notify_one();
  while (committed_.load() < target && failures_.load() - failures < 50 && thread_.joinable())
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
}

void Writer::close_callbacks() {
  std::lock_guard lock(callbacks_mu_);
  callbacks_closed_ = true;
}

std::string Writer::make_checkpoint(int64_t seq, const std::string& hash,
                                    const merkle::Frontier& f) {
  Checkpoint c;
  c.chain = instance_;
  c.seq = seq;
  c.hash = hash;
  c.root = to_hex(f.root());
  c.ts_ms = now_ms();
  c.sign(*cp_.key, rotating_ ? cp_.previous_key.get() : nullptr);
  return c.text();
}

// Chains the batch: seq, hash, Merkle subtrees and checkpoints are computed here, off the request
// path. `frontier` advances; the caller adopts it only once the batch is committed.
void Writer::chain_batch(std::vector<Item>& batch, Batch& out, merkle::Frontier& frontier,
                         bool final) {
  out.rows.clear();
  out.nodes.clear();
  out.checkpoints.clear();
  out.attrs.clear();
  // Bounded: a set forgotten is written again, which the store ignores.
  if (stored_sets_.size() > 100'000) stored_sets_.clear();
  int64_t seq = seq_;
  std::string prev = hash_;
  int64_t last_cp = cp_seq_;
  for (Item& it : batch) {
    if (it.ticket) {
      int s = Ticket::kQueued;
      if (!it.ticket->state.compare_exchange_strong(s, Ticket::kCommitting) &&
          s == Ticket::kAbandoned) {
        // The request gave up waiting and answered 503: the record says what the client got.
        it.record.status = 503;
        it.record.error = "audit_unavailable";
      }
    }
    StoredRow r;
    r.chain = instance_;
    r.seq = ++seq;
    r.prev_hash = prev;
    const size_t before = out.attrs.size();
    r.record = it.record.stored(out.attrs);
    // A set the store already holds is not written again (the same few sets come back).
    for (size_t i = before; i < out.attrs.size();) {
      if (!stored_sets_.insert(out.attrs[i].hash).second) {
        out.attrs.erase(out.attrs.begin() + static_cast<std::ptrdiff_t>(i));
      } else {
        ++i;
      }
    }
    r.hash = sha256_hex(prev, r.record);
    prev = r.hash;
    frontier.append(merkle::leaf_hash(r.record),
                    [&](const merkle::Node& n) { out.nodes.push_back(n); });
    if (cp_.key && seq - last_cp >= cp_.every_records) {
      out.checkpoints.emplace_back(seq, make_checkpoint(seq, prev, frontier));
      last_cp = seq;
    }
    out.rows.push_back(std::move(r));
  }
  const bool due = final || std::chrono::steady_clock::now() - cp_time_ >=
                                std::chrono::milliseconds(cp_.every_ms);
  if (cp_.key && seq > last_cp && due)
    out.checkpoints.emplace_back(seq, make_checkpoint(seq, prev, frontier));
}

void Writer::run() {
  using namespace std::chrono_literals;
  std::vector<Item> batch;
  Batch out;
  for (;;) {
    bool final = false;
    std::optional<CheckpointOptions> next_cp;
    {
      std::unique_lock lock(mu_);
      cv_.wait_for(lock, durability_ == Durability::kStrict ? 100ms : 50ms, [&] {
        return stopping_ || next_cp_ || (!queue_.empty() && durability_ == Durability::kStrict);
      });
      while (!queue_.empty() && batch.size() < 16384) {
        batch.push_back(std::move(queue_.front()));
        queue_.pop_front();
      }
      final = stopping_ && queue_.empty();
      next_cp.swap(next_cp_);
    }
    take_refusals(batch, final);
    if (next_cp) take_checkpoint_options(std::move(*next_cp));
    const bool checkpoint_due = cp_.key && seq_ > cp_seq_ &&
                                (final || std::chrono::steady_clock::now() - cp_time_ >=
                                              std::chrono::milliseconds(cp_.every_ms));
    if (batch.empty() && !checkpoint_due) {
      if (final) return;
      continue;
    }
    merkle::Frontier frontier = frontier_;
    chain_batch(batch, out, frontier, final);
    std::string error;
    if (store_->append(instance_, out, error)) {
      if (!out.rows.empty()) {
        seq_ = out.rows.back().seq;
        hash_ = out.rows.back().hash;
      }
      frontier_ = std::move(frontier);
      if (!healthy_.exchange(true)) log_line("info", "audit store recovered");
      {
        std::lock_guard lock(callbacks_mu_);
        for (Item& it : batch) {
          if (it.ticket) it.ticket->state.store(Ticket::kCommitted);
          if (it.committed && !callbacks_closed_) it.committed();
        }
      }
      // Counted once the callbacks have returned, not before: flush() waits for this count, and
      // its caller then destroys the workers' executors the callbacks post to (server.cpp).
      committed_ += batch.size();
      batch.clear();
      if (!out.checkpoints.empty()) {
        cp_seq_ = out.checkpoints.back().first;
        cp_time_ = std::chrono::steady_clock::now();
        rotating_ = false;
        checkpoints_ += out.checkpoints.size();
        const std::string& text = out.checkpoints.back().second;
        {
          std::lock_guard lock(cp_mu_);
          latest_ = text;
        }
        if (cp_.log) {
          // One write(2) per line: it never interleaves with the workers' access log lines.
          const std::string line = "{\"audit_checkpoint\":" + text + "}\n";
          [[maybe_unused]] const ssize_t n = ::write(STDOUT_FILENO, line.data(), line.size());
        }
        if (cp_.sink) cp_.sink->offer(out.checkpoints.back().first, text);
      }
      if (final) return;
      continue;
    }
    // Keep the batch (nothing is dropped) and retry; meanwhile the gateway fails closed. The
    // records' tickets go back to queued: a strict request may now abandon its record.
    for (Item& it : batch) {
      int s = Ticket::kCommitting;
      if (it.ticket) it.ticket->state.compare_exchange_strong(s, Ticket::kQueued);
    }
    ++failures_;
    stored_sets_.clear();  // the batch's sets were not written: the retry writes them
    if (healthy_.exchange(false)) log_line("error", "audit store failing: " + error);
    {
      std::unique_lock lock(mu_);
      if (stopping_ && failures_ > 50) {  // shutting down with a dead store: say what is lost
        log_line("error", "audit store failing at shutdown: " + std::to_string(batch.size()) +
                              " records not written");
        return;
      }
      cv_.wait_for(lock, 200ms, [&] { return stopping_; });
    }
  }
}

}  // namespace warden::audit
