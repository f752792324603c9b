// The Redis limit store (redis.h): hiredis's asynchronous API on the worker's io_context, and the
// two Lua scripts that hold the arithmetic of arith.cpp on the Redis side.
#include "limits/redis.h"
#include "limits/rules.h"

#include "metrics/metrics.h"

#include <hiredis/async.h>
#include <hiredis/hiredis.h>
#include <openssl/sha.h>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/connect.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>

#include <algorithm>
#include <charconv>
#include <string>
#include <system_error>
#include <thread>
#include <vector>

namespace warden::limits {

namespace net = boost::asio;

namespace {

// Each limit is three keys: its state (a hash: tat, ws, used, res), its leases (a sorted set:
// reservation id -> end of lease, in µs) and what each reservation holds (a hash: id -> cost).
// ARGV per limit: kind (0 rate, 1 budget, 2 concurrency, 3 budget per calendar month), amount,
// window (µs; a month's: the longest), cost[, actual].
// Time is the server's (TIME), so replicas whose clocks differ still agree. Numbers are Lua
// doubles: µs since 1970 stay below 2^53.
constexpr std::string_view kCommon = R"lua(
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local st = {}
local function spec(i, per)
  local b = 2 + (i - 1) * per
  local kind = tonumber(ARGV[b + 1])
  local month = kind == 3
  if month then kind = 1 end
  return kind, tonumber(ARGV[b + 2]), tonumber(ARGV[b + 3]), tonumber(ARGV[b + 4]), month
end
-- The budget window holding t: a fixed window aligned to 0, or the calendar month (UTC; the
-- civil date from days since 1970 as in H. Hinnant's civil_from_days, like arith.cpp's chrono).
local function bounds(t, win, month)
  if not month then
    local ws = t - (t % win)
    return ws, ws + win
  end
  local day = math.floor(t / 86400000000)
  local z = day + 719468
  local era = math.floor(z / 146097)
  local doe = z - era * 146097
  local yoe = math.floor((doe - math.floor(doe / 1460) + math.floor(doe / 36524)
                          - math.floor(doe / 146096)) / 365)
  local y = yoe + era * 400
  local doy = doe - (365 * yoe + math.floor(yoe / 4) - math.floor(yoe / 100))
  local mp = math.floor((5 * doy + 2) / 153)
  local d = doy - math.floor((153 * mp + 2) / 5) + 1
  local m = mp < 10 and mp + 3 or mp - 9
  if m <= 2 then y = y + 1 end
  local len = ({31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31})[m]
  if m == 2 and ((y % 4 == 0 and y % 100 ~= 0) or y % 400 == 0) then len = 29 end
  local ws = (day - d + 1) * 86400000000
  return ws, ws + len * 86400000000
end
local function interval(amount, win) return math.max(1, math.floor(win / math.max(1, amount))) end
-- The state of limit i, with ended leases given back and a passed budget window started anew.
local function get(i, per)
  local k, lk, ck = KEYS[3 * i - 2], KEYS[3 * i - 1], KEYS[3 * i]
  local s = st[k]
  if s then return s end
  local v = redis.call('HMGET', k, 'tat', 'ws', 'used', 'res')
  s = {k = k, tat = tonumber(v[1]) or 0, ws = tonumber(v[2]) or 0, used = tonumber(v[3]) or 0,
       res = tonumber(v[4]) or 0}
  local kind, amount, win, _, month = spec(i, per)
  if kind == 1 then
    local ws = bounds(now, win, month)
    if s.ws ~= ws then
      s.ws, s.used, s.res = ws, 0, 0
      redis.call('DEL', lk, ck)
    end
  end
  local gone = redis.call('ZRANGEBYSCORE', lk, '-inf', now)
  for _, m in ipairs(gone) do
    local c = tonumber(redis.call('HGET', ck, m)) or 0
    if kind == 1 then s.res = math.max(0, s.res - c) end
    if kind == 2 then s.used = math.max(0, s.used - c) end
    redis.call('HDEL', ck, m)
  end
  if #gone > 0 then redis.call('ZREMRANGEBYSCORE', lk, '-inf', now) end
  s.base = {s.tat, s.ws, s.used, s.res}
  st[k] = s
  return s
end
local function put(s, ttl_ms)
  redis.call('HSET', s.k, 'tat', s.tat, 'ws', s.ws, 'used', s.used, 'res', s.res)
  redis.call('PEXPIRE', s.k, ttl_ms)
end
)lua";

// ARGV: id, lease (µs), then 4 per limit. Returns {allowed, limiting (0-based), then per limit
// allowed, remaining, retry_after, reset}.
constexpr std::string_view kReserve = R"lua(
local id, lease = ARGV[1], tonumber(ARGV[2])
local n = #KEYS / 3
local out = {1, 0}
local worst, least = -1, 2.0
for i = 1, n do
  local kind, amount, win, cost, month = spec(i, 4)
  local s = get(i, 4)
  local ok, rem, retry, reset = 0, 0, 0, 0
  if kind == 0 then
    local iv = interval(amount, win)
    local tat = math.max(s.tat, now) + iv * cost
    local ahead = tat - now
    if ahead <= win then
      s.tat, ok, rem, reset = tat, 1, math.floor((win - ahead) / iv), ahead
    else
      local cur = math.max(s.tat, now) - now
      rem, retry, reset = math.floor(math.max(0, win - cur) / iv), ahead - win, cur
    end
  elseif kind == 1 then
    local taken = s.used + s.res
    local _, we = bounds(now, win, month)
    reset = we - now
    if taken + cost <= amount then
      s.res, ok, rem = s.res + cost, 1, amount - taken - cost
    else
      rem, retry = math.max(0, amount - taken), reset
    end
  else
    if s.used + cost <= amount then
      s.used, ok, rem = s.used + cost, 1, amount - s.used - cost
    else
      rem, retry = math.max(0, amount - s.used), 1000000
    end
  end
  if ok == 0 then
    out[1] = 0
    if retry > worst then worst, out[2] = retry, i - 1 end
  elseif out[1] == 1 and amount > 0 and rem / amount < least then
    least, out[2] = rem / amount, i - 1
  end
  out[#out + 1], out[#out + 2], out[#out + 3], out[#out + 4] = ok, rem, retry, reset
end
for i = 1, n do
  local kind, amount, win, cost = spec(i, 4)
  local s = get(i, 4)
  if out[1] == 0 then s.tat, s.ws, s.used, s.res = s.base[1], s.base[2], s.base[3], s.base[4] end
  local ttl = math.floor(math.max(win, lease) / 1000) * 2 + 1000
  put(s, ttl)
  if out[1] == 1 and kind ~= 0 then
    local lk, ck = KEYS[3 * i - 1], KEYS[3 * i]
    redis.call('ZADD', lk, now + lease, id)
    redis.call('HINCRBY', ck, id, cost)
    redis.call('PEXPIRE', lk, ttl)
    redis.call('PEXPIRE', ck, ttl)
  end
end
return out
)lua";

// ARGV: id, lease (µs), then 5 per limit (the fifth: the usage; 0 releases). A reservation whose
// lease ended, or whose window passed, is no longer held: only its usage counts, in its window.
constexpr std::string_view kSettle = R"lua(
local id, lease = ARGV[1], tonumber(ARGV[2])
local n = #KEYS / 3
for i = 1, n do
  local kind, amount, win, cost = spec(i, 5)
  local actual = tonumber(ARGV[2 + (i - 1) * 5 + 5])
  local s = get(i, 5)
  local lk, ck = KEYS[3 * i - 1], KEYS[3 * i]
  if kind == 0 then
    if actual < cost then s.tat = s.tat - interval(amount, win) * (cost - math.max(0, actual)) end
  else
    local held = tonumber(redis.call('HGET', ck, id)) or 0
    if held > 0 then
      local left = redis.call('HINCRBY', ck, id, -cost)
      if left <= 0 then
        redis.call('HDEL', ck, id)
        redis.call('ZREM', lk, id)
      end
      if kind == 1 then
        s.res = math.max(0, s.res - cost)
        s.used = s.used + math.max(0, actual)
      else
        s.used = math.max(0, s.used - cost)
      end
    end
  end
  put(s, math.floor(math.max(win, lease) / 1000) * 2 + 1000)
end
return 1
)lua";

// ARGV: id, lease (µs), then the window of each limit (µs). Extends the reservation's lease on
// every limit that still holds it (and the keys' lifetimes with it); a lease that was given back
// (settled, or ended and reclaimed by another script) is not brought back. Returns how many it
// extended. Standalone: it reclaims nothing and reads no state.
constexpr std::string_view kRenew = R"lua(
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local id, lease = ARGV[1], tonumber(ARGV[2])
local kept = 0
for i = 1, #KEYS / 3 do
  local k, lk, ck = KEYS[3 * i - 2], KEYS[3 * i - 1], KEYS[3 * i]
  if redis.call('ZSCORE', lk, id) then
    local ttl = math.floor(math.max(tonumber(ARGV[2 + i]), lease) / 1000) * 2 + 1000
    redis.call('ZADD', lk, now + lease, id)
    redis.call('PEXPIRE', k, ttl)
    redis.call('PEXPIRE', lk, ttl)
    redis.call('PEXPIRE', ck, ttl)
    kept = kept + 1
  end
end
return kept
)lua";

std::string sha1_hex(std::string_view text) {
  unsigned char d[SHA_DIGEST_LENGTH];
  SHA1(reinterpret_cast<const unsigned char*>(text.data()), text.size(), d);
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  for (unsigned char c : d) {
    out += kHex[c >> 4];
    out += kHex[c & 15];
  }
  return out;
}

const std::string& reserve_script() {
  static const std::string s = std::string(kCommon) + std::string(kReserve);
  return s;
}
const std::string& settle_script() {
  static const std::string s = std::string(kCommon) + std::string(kSettle);
  return s;
}
const std::string& renew_script() {
  static const std::string s(kRenew);
  return s;
}

// A limit whose reservations hold a lease (a request rate's do not: GCRA keeps no holding).
bool leased(const Applied& l) {
  return l.spec.kind != Kind::rate;
}

// One EVALSHA in Redis's protocol (RESP), written here and handed to hiredis formatted: its own
// formatting (sds, one allocation per argument) cost ~20k instructions per command, a third of a
// request's whole Redis work (bench/callgrind.sh REDIS=... LIMITS=4). `*<count>` goes in front
// once every argument is in. Kept for a retry after NOSCRIPT.
struct Command {
  std::string args;  // each argument: $<length>\r\n<bytes>\r\n
  std::size_t count = 0;
  std::string resp;  // finish(): the whole command
  void add(std::string_view a, std::string_view b = {}, std::string_view c = {}) {
    char n[24];
    const auto end = std::to_chars(n, n + sizeof n, a.size() + b.size() + c.size()).ptr;
    args += '$';
    args.append(n, end);
    args += "\r\n";
    args += a;
    args += b;
    args += c;
    args += "\r\n";
    ++count;
  }
  void add_number(std::int64_t v) {
    char n[24];
    add(std::string_view(n, std::to_chars(n, n + sizeof n, v).ptr));
  }
  Command& finish() {
    char n[24];
    const auto end = std::to_chars(n, n + sizeof n, count).ptr;
    resp.reserve(args.size() + 16);
    resp += '*';
    resp.append(n, end);
    resp += "\r\n";
    resp += args;
    args.clear();
    return *this;
  }
};

constexpr std::string_view kKeyPrefix = "warden:limit:";

// A limit's three keys: its state, its leases, what each reservation holds.
void add_keys(Command& c, const Applied& l) {
  c.add(kKeyPrefix, l.key);
  c.add(kKeyPrefix, l.key,
        "\x1f"
        "leases");
  c.add(kKeyPrefix, l.key,
        "\x1f"
        "held");
}

Command script_command(const std::string& sha, std::span<const Applied> limits, std::string_view id,
                       Micros lease, std::span<const std::int64_t> actual, bool settling) {
  Command c;
  c.args.reserve(256 + limits.size() * (3 * 64 + 5 * 16));
  c.add("EVALSHA");
  c.add(sha);
  c.add_number(static_cast<std::int64_t>(limits.size() * 3));
  for (const Applied& l : limits) add_keys(c, l);
  c.add(id);
  c.add_number(lease);
  for (std::size_t i = 0; i < limits.size(); ++i) {
    const Applied& l = limits[i];
    c.add_number(l.spec.month ? 3 : static_cast<int>(l.spec.kind));
    c.add_number(l.spec.amount);
    c.add_number(std::max<Micros>(1, l.spec.window));
    c.add_number(l.cost);
    if (settling) c.add_number(i < actual.size() ? actual[i] : 0);
  }
  c.finish();
  return c;
}

// The renewal of one reservation: the three keys of each leased limit, then id, lease, windows.
Command renew_command(const std::string& sha, std::span<const Applied> limits, std::string_view id,
                      Micros lease) {
  Command c;
  c.add("EVALSHA");
  c.add(sha);
  c.add_number(3 * std::count_if(limits.begin(), limits.end(), leased));
  for (const Applied& l : limits)
    if (leased(l)) add_keys(c, l);
  c.add(id);
  c.add_number(lease);
  for (const Applied& l : limits)
    if (leased(l)) c.add_number(std::max<Micros>(1, l.spec.window));
  c.finish();
  return c;
}

// host:port split; the port 6379 when none is written.
std::pair<std::string, int> split_address(std::string_view address) {
  const std::size_t colon = address.rfind(':');
  if (colon == std::string_view::npos) return {std::string(address), 6379};
  return {std::string(address.substr(0, colon)),
          std::atoi(std::string(address.substr(colon + 1)).c_str())};
}

// An IP address and port, when `host` is written as an address (no lookup needed).
std::optional<net::ip::tcp::endpoint> literal(const std::string& host, int port) {
  boost::system::error_code ec;
  const net::ip::address ip = net::ip::make_address(host, ec);
  if (ec) return std::nullopt;
  return net::ip::tcp::endpoint(ip, static_cast<unsigned short>(port));
}

// The primary's address (host:port) as the sentinel at `at` names it for `master`; empty when
// the sentinel does not answer within `timeout`, does not know the name, or answers anything
// else. Asked over a connection of its own (Asio, with hiredis's reply parser), closed after the
// answer: the worker's loop never blocks on it.
net::awaitable<std::string> ask_sentinel(net::io_context& ioc, net::ip::tcp::endpoint at,
                                         std::string master, std::chrono::milliseconds timeout) {
  auto socket = std::make_shared<net::ip::tcp::socket>(ioc);
  net::steady_timer deadline(ioc);
  deadline.expires_after(timeout);
  deadline.async_wait([socket](const boost::system::error_code& ec) {
    if (ec) return;
    boost::system::error_code ignored;
    socket->close(ignored);
  });
  auto [ec] = co_await socket->async_connect(at, net::as_tuple(net::use_awaitable));
  if (ec) co_return std::string();
  const std::string command = "*3\r\n$8\r\nSENTINEL\r\n$23\r\nget-master-addr-by-name\r\n$" +
                              std::to_string(master.size()) + "\r\n" + master + "\r\n";
  std::tie(ec, std::ignore) =
      co_await net::async_write(*socket, net::buffer(command), net::as_tuple(net::use_awaitable));
  if (ec) co_return std::string();
  std::unique_ptr<redisReader, void (*)(redisReader*)> reader(redisReaderCreate(), redisReaderFree);
  char buf[512];
  for (;;) {
    auto [rec, n] =
        co_await socket->async_read_some(net::buffer(buf), net::as_tuple(net::use_awaitable));
    if (rec || redisReaderFeed(reader.get(), buf, n) != REDIS_OK) co_return std::string();
    void* r = nullptr;
    if (redisReaderGetReply(reader.get(), &r) != REDIS_OK) co_return std::string();
    if (r == nullptr) continue;  // not whole yet
    const std::unique_ptr<redisReply, void (*)(void*)> reply(static_cast<redisReply*>(r),
                                                             freeReplyObject);
    if (reply->type != REDIS_REPLY_ARRAY || reply->elements != 2 ||
        reply->element[0]->type != REDIS_REPLY_STRING ||
        reply->element[1]->type != REDIS_REPLY_STRING)
      co_return std::string();  // a nil: no primary of that name
    co_return std::string(reply->element[0]->str, reply->element[0]->len) + ":" +
        std::string(reply->element[1]->str, reply->element[1]->len);
  }
}

}  // namespace

struct Renewal::List {
  Renewal* head = nullptr;
};

void Renewal::unlink() {
  if (owner_ == nullptr) return;
  if (prev_ != nullptr) prev_->next_ = next_;
  if (next_ != nullptr) next_->prev_ = prev_;
  if (owner_->head == this) owner_->head = next_;
  owner_ = nullptr;
  prev_ = next_ = nullptr;
}

// One connection and its Asio watchers. Shared with the handlers in flight, which check `ac`
// before touching hiredis: cleanup() (hiredis freeing the context) clears it.
struct RedisStore::Impl : std::enable_shared_from_this<RedisStore::Impl> {
  Impl(net::io_context& io, Metrics& m) : ioc(io), metrics(m), sd(io), renew_timer(io) {}
  ~Impl() {
    for (Renewal* r = renewals.head; r != nullptr;) {
      Renewal* next = r->next_;
      r->owner_ = nullptr;
      r->prev_ = r->next_ = nullptr;
      r = next;
    }
  }
  net::io_context& ioc;
  Metrics& metrics;
  net::posix::stream_descriptor sd;
  redisAsyncContext* ac = nullptr;
  std::string address;
  bool reading = false, writing = false, read_armed = false, write_armed = false;
  std::chrono::steady_clock::time_point retry_at{};      // no reconnect before (after a failure)
  std::chrono::steady_clock::time_point connected_at{};  // of the connection, once it is up
  std::string reserve_sha = sha1_hex(reserve_script());
  std::string settle_sha = sha1_hex(settle_script());
  std::string renew_sha = sha1_hex(renew_script());
  Micros lease = 15 * 60 * 1'000'000LL;
  Renewal::List renewals;  // the reservations of this worker's requests that are held
  // With sentinels: the primary they named (empty: to be asked), whom to ask next, and the
  // requests waiting for the answer.
  std::vector<std::string> sentinels;
  std::string master;
  std::string primary;
  std::size_t next_sentinel = 0;
  bool resolving = false;
  net::steady_timer renew_timer;
  bool renew_armed = false;
  // Lookups of host names (of Redis, the sentinels, the primary they name: look_up()) run apart
  // from the worker's resolver, on whose one thread the upstream connections' lookups queue: a
  // DNS that does not answer for Redis's name must not hold those (nor theirs this one). Asio's
  // resolver on an io_context of its own, run by a thread made at the first lookup (a store
  // named by addresses has none); answers are posted to the worker. Destroying it waits for a
  // getaddrinfo under way, as the worker's own resolver does.
  struct Lookups {
    net::io_context ctx{1};
    net::executor_work_guard<net::io_context::executor_type> work = net::make_work_guard(ctx);
    net::ip::tcp::resolver resolver{ctx};
    std::thread runner{[this] { ctx.run(); }};
    ~Lookups() {
      work.reset();
      ctx.stop();
      runner.join();
    }
  };
  std::unique_ptr<Lookups> lookups;
  std::string looking_up;  // the address being looked up (empty: none)
  // Made at the first lookup; null when no thread is to be had.
  net::io_context* lookup_context() {
    if (lookups == nullptr) {
      try {
        lookups = std::make_unique<Lookups>();
      } catch (const std::system_error&) {
        return nullptr;
      }
    }
    return &lookups->ctx;
  }

  // What a reply callback fills in; the waiting coroutine's timer is cancelled to wake it.
  struct Pending {
    net::steady_timer timer;
    bool done = false;
    std::optional<Outcome> outcome;
    std::size_t n = 0;
    explicit Pending(net::io_context& io) : timer(io) {}
  };

  enum class Op : std::uint8_t { reserve, settle, release, renew };
  // A script command in flight. Its arguments are kept for one retry: a server that answers
  // NOSCRIPT has forgotten the scripts (SCRIPT FLUSH), which are then loaded again ahead of it.
  struct Call {
    Op op;
    Command cmd;
    std::shared_ptr<Pending> pending;  // null: nobody waits for the answer
    std::size_t leases = 0;            // a renewal: the leases it asks to extend
    bool retried = false;
    std::chrono::steady_clock::time_point sent{};
  };

  void arm_read() {
    read_armed = true;
    sd.async_wait(net::posix::stream_descriptor::wait_read,
                  [self = shared_from_this()](const boost::system::error_code& ec) {
                    self->read_armed = false;
                    if (ec || self->ac == nullptr || !self->reading) return;
                    redisAsyncHandleRead(self->ac);
                    if (self->ac != nullptr && self->reading && !self->read_armed) self->arm_read();
                  });
  }
  void arm_write() {
    write_armed = true;
    sd.async_wait(net::posix::stream_descriptor::wait_write,
                  [self = shared_from_this()](const boost::system::error_code& ec) {
                    self->write_armed = false;
                    if (ec || self->ac == nullptr || !self->writing) return;
                    redisAsyncHandleWrite(self->ac);
                    if (self->ac != nullptr && self->writing && !self->write_armed)
                      self->arm_write();
                  });
  }

  static Impl* of(void* data) { return static_cast<Impl*>(data); }
  static void add_read(void* d) {
    Impl* s = of(d);
    s->reading = true;
    if (!s->read_armed) s->arm_read();
  }
  static void del_read(void* d) { of(d)->reading = false; }
  static void add_write(void* d) {
    Impl* s = of(d);
    s->writing = true;
    if (!s->write_armed) s->arm_write();
  }
  static void del_write(void* d) { of(d)->writing = false; }
  // hiredis frees the context (and closes its socket) after this: the descriptor lets go of
  // the fd without closing it, and the handlers in flight see `ac` cleared.
  static void cleanup(void* d) {
    Impl* s = of(d);
    s->reading = s->writing = false;
    s->ac = nullptr;
    boost::system::error_code ignored;
    s->sd.cancel(ignored);
    if (s->sd.is_open()) s->sd.release();
  }
  static void on_connect(const redisAsyncContext* c, int status) {
    Impl* s = of(c->data);
    if (status != REDIS_OK) return s->failed();
    s->connected_at = std::chrono::steady_clock::now();
  }
  // A connection that served for a while and then closed (a server restarted, a client killed
  // by a sentinel's reconfiguration, an idle timeout) is made again by the next request at
  // once: only a connection that fails to come up, or closes right after, waits out the pause.
  static void on_disconnect(const redisAsyncContext* c, int status) {
    if (status == REDIS_OK) return;
    Impl* s = of(c->data);
    const auto now = std::chrono::steady_clock::now();
    const bool served = s->connected_at != std::chrono::steady_clock::time_point{} &&
                        now - s->connected_at >= std::chrono::seconds(1);
    s->failed();
    if (served) s->retry_at = now;
  }
  // Not sooner than 200 ms from now; with sentinels, the primary is asked again (a lost
  // connection is how a failover shows: the sentinels close the clients of the one demoted).
  void failed() {
    retry_at = std::chrono::steady_clock::now() + std::chrono::milliseconds(200);
    connected_at = {};
    primary.clear();
  }
  // The connection answers for a store it no longer is (a replica): dropped, and asked again.
  void lost() {
    failed();
    if (ac != nullptr) redisAsyncFree(ac);  // deferred by hiredis when inside a callback
  }
  // A new connection to a primary the sentinels named: it must say so itself (their answer
  // may predate a failover that is under way).
  static void on_role(redisAsyncContext* c, void* r, void*) {
    const auto* reply = static_cast<const redisReply*>(r);
    if (reply == nullptr) return;
    if (reply->type == REDIS_REPLY_ARRAY && reply->elements > 0 &&
        reply->element[0]->type == REDIS_REPLY_STRING &&
        std::string_view(reply->element[0]->str, reply->element[0]->len) == "master")
      return;
    of(c->data)->lost();
  }

  // Queued on the connection without a callback: commands are answered in order, so the
  // EVALSHAs queued after them find the scripts.
  void load_scripts() {
    for (const std::string* script : {&reserve_script(), &settle_script(), &renew_script()}) {
      const char* argv[] = {"SCRIPT", "LOAD", script->c_str()};
      const size_t lens[] = {6, 4, script->size()};
      redisAsyncCommandArgv(ac, nullptr, nullptr, 3, argv, lens);
    }
  }

  // The connection to `addr` (host:port), begun when there is none (not sooner than 200 ms after
  // a failure), with the scripts loaded first. hiredis is handed IP addresses only: given a name,
  // redisAsyncConnect calls getaddrinfo on this thread, and a slow DNS would stall every request
  // of the worker. A name is looked up first (lookup()), which connects when it ends: false
  // until then.
  bool connect(std::string_view addr) {
    if (ac != nullptr && address == addr) return true;
    if (ac != nullptr) redisAsyncFree(ac);  // a new address: the old connection goes
    address = std::string(addr);
    if (std::chrono::steady_clock::now() < retry_at) return false;
    const auto [host, port] = split_address(address);
    if (literal(host, port)) return open(host, port);
    lookup(host, port);
    return false;
  }
  // Looks `host` up on the store's resolver thread; `done(impl, endpoint)` runs on the worker
  // with its first IPv4 address, else its first IPv6 one (as hiredis would), or none; not at all
  // when the store is gone by then. False when no thread is to be had.
  template <class Done>
  bool look_up(const std::string& host, int port, Done done) {
    if (lookup_context() == nullptr) return false;
    lookups->resolver.async_resolve(
        host, std::to_string(port),
        [self = weak_from_this(), io = &ioc, done = std::move(done)](
            const boost::system::error_code& ec,
            const net::ip::tcp::resolver::results_type& found) mutable {
          std::optional<net::ip::tcp::endpoint> to;
          for (const auto& e : found)
            if (!to || (e.endpoint().address().is_v4() && !to->address().is_v4()))
              to = e.endpoint();
          if (ec) to.reset();
          net::post(*io, [self, to, done = std::move(done)]() mutable {
            if (const auto s = self.lock()) done(*s, to);
          });
        });
    return true;
  }
  // The connection's lookup: one per address at a time, whose end wakes the requests that wait
  // for it (reach()). A name that does not resolve is a failed connect.
  void lookup(const std::string& host, int port) {
    if (looking_up == address) return;
    const auto done = [wanted = address](Impl& s, const std::optional<net::ip::tcp::endpoint>& to) {
      if (s.looking_up == wanted) s.looking_up.clear();
      if (s.address == wanted && s.ac == nullptr) {
        if (to) {
          s.open(to->address().to_string(), to->port());
        } else {
          s.count_error(LimitStoreError::resolve);
          s.failed();
        }
      }
      wake(s.lookup_waiters);
    };
    if (!look_up(host, port, done)) {  // as a name that does not resolve
      count_error(LimitStoreError::resolve);
      failed();
      return;
    }
    looking_up = address;
  }
  // A sentinel's address: at once for an IP address, else looked up within `timeout`.
  static net::awaitable<std::optional<net::ip::tcp::endpoint>> endpoint_of(
      std::shared_ptr<Impl> self, std::string address, std::chrono::milliseconds timeout) {
    const auto [host, port] = split_address(address);
    if (auto at = literal(host, port)) co_return at;
    struct Answer {
      explicit Answer(net::io_context& io) : timer(io) {}
      net::steady_timer timer;
      bool done = false;
      std::optional<net::ip::tcp::endpoint> to;
    };
    auto answer = std::make_shared<Answer>(self->ioc);
    const auto done = [weak = std::weak_ptr<Answer>(answer)](
                          Impl&, const std::optional<net::ip::tcp::endpoint>& to) {
      if (const auto a = weak.lock(); a != nullptr && !a->done) {
        a->to = to;
        a->done = true;
        a->timer.cancel();
      }
    };
    if (!self->look_up(host, port, done)) co_return std::nullopt;
    answer->timer.expires_after(timeout);
    co_await answer->timer.async_wait(net::as_tuple(net::use_awaitable));
    if (!answer->done) {
      self->count_error(LimitStoreError::timeout);
      answer->done = true;  // a late answer is dropped
    } else if (!answer->to) {
      self->count_error(LimitStoreError::resolve);
    }
    co_return answer->to;
  }
  // connect(), waiting up to `timeout` for a name's lookup.
  net::awaitable<bool> reach(const std::string& addr, std::chrono::milliseconds timeout) {
    if (connect(addr)) co_return true;
    if (looking_up != addr) co_return false;  // paused after a failure
    co_await wait(lookup_waiters, timeout);
    if (ac != nullptr && address == addr) co_return true;
    if (looking_up == addr) count_error(LimitStoreError::timeout);
    co_return false;
  }
  std::vector<std::weak_ptr<Pending>> lookup_waiters;
  // Requests waiting (up to `timeout`) for what a lookup or a sentinel tells: woken by wake().
  net::awaitable<void> wait(std::vector<std::weak_ptr<Pending>>& list,
                            std::chrono::milliseconds timeout) {
    std::erase_if(list, [](const std::weak_ptr<Pending>& w) { return w.expired(); });
    auto w = std::make_shared<Pending>(ioc);
    list.push_back(w);
    w->timer.expires_after(timeout);
    co_await w->timer.async_wait(net::as_tuple(net::use_awaitable));
  }
  static void wake(std::vector<std::weak_ptr<Pending>>& list) {
    for (const std::weak_ptr<Pending>& w : list)
      if (auto p = w.lock()) p->timer.cancel();
    list.clear();
  }
  // The connection to an IP address.
  bool open(const std::string& ip, int port) {
    redisAsyncContext* c = redisAsyncConnect(ip.c_str(), port);
    if (c == nullptr) return false;
    if (c->err) {
      redisAsyncFree(c);
      failed();
      return false;
    }
    ac = c;
    c->data = this;
    ++metrics.limit_store_connects;
    boost::system::error_code ec;
    sd.assign(c->c.fd, ec);
    if (ec) {
      redisAsyncFree(c);
      ac = nullptr;
      return false;
    }
    c->ev.data = this;
    c->ev.addRead = add_read;
    c->ev.delRead = del_read;
    c->ev.addWrite = add_write;
    c->ev.delWrite = del_write;
    c->ev.cleanup = cleanup;
    redisAsyncSetConnectCallback(c, on_connect);
    redisAsyncSetDisconnectCallback(c, on_disconnect);
    // Non-blocking connect: hiredis watches for writability, then sends what is queued.
    add_write(this);
    if (!sentinels.empty()) redisAsyncCommand(c, on_role, nullptr, "ROLE");
    load_scripts();
    return ac != nullptr;
  }

  int send(Call& call) {
    return redisAsyncFormattedCommand(ac, on_reply, &call, call.cmd.resp.data(),
                                      call.cmd.resp.size());
  }
  // Sent on the connection (hiredis owns `call` until its reply); false when there is none.
  bool submit(std::unique_ptr<Call> call) {
    if (ac == nullptr || send(*call) != REDIS_OK) return false;
    ++metrics.limit_store_commands[static_cast<std::size_t>(call->op)];
    if (call->pending != nullptr) call->sent = std::chrono::steady_clock::now();
    call.release();
    return true;
  }
  void count_error(LimitStoreError e) { ++metrics.limit_store_errors[static_cast<std::size_t>(e)]; }

  static void on_reply(redisAsyncContext* c, void* r, void* priv) {
    std::unique_ptr<Call> call(static_cast<Call*>(priv));
    const auto* reply = static_cast<const redisReply*>(r);
    Impl* s = of(c->data);
    const std::string_view error = reply != nullptr && reply->type == REDIS_REPLY_ERROR
                                       ? std::string_view(reply->str, reply->len)
                                       : std::string_view();
    if (error.starts_with("NOSCRIPT") && !call->retried && s->ac != nullptr) {
      call->retried = true;
      s->load_scripts();
      if (s->send(*call) == REDIS_OK) {
        call.release();
        return;
      }
    }
    if (error.starts_with("READONLY")) s->lost();
    Pending* p = call->pending.get();
    if (reply == nullptr) {
      if (p == nullptr || !p->done) s->count_error(LimitStoreError::lost);  // else: timed out
    } else if (!error.empty()) {
      s->count_error(LimitStoreError::error);
    } else if (call->op == Op::renew && reply->type == REDIS_REPLY_INTEGER) {
      const auto kept = static_cast<std::size_t>(std::max<long long>(0, reply->integer));
      s->metrics.limit_leases_renewed += kept;
      s->metrics.limit_leases_lost += call->leases - std::min(kept, call->leases);
    }
    if (p == nullptr) return;
    if (reply != nullptr && !p->done)
      s->metrics.limit_store_round_trip.observe(
          std::chrono::duration<double>(std::chrono::steady_clock::now() - call->sent).count());
    if (call->op == Op::reserve) read_outcome(reply, *p);
    p->done = true;
    p->timer.cancel();
  }

  // The reserve script's answer; nothing for anything else (an error reply, a lost connection).
  static void read_outcome(const redisReply* reply, Pending& p) {
    if (reply == nullptr || reply->type != REDIS_REPLY_ARRAY || reply->elements != 2 + 4 * p.n)
      return;
    Outcome o;
    o.allowed = reply->element[0]->integer == 1;
    o.limiting = static_cast<std::size_t>(reply->element[1]->integer);
    for (std::size_t i = 0; i < p.n; ++i) {
      const redisReply* const* e = reply->element + 2 + 4 * i;
      o.verdicts.push_back({e[0]->integer == 1, e[1]->integer, e[2]->integer, e[3]->integer});
    }
    p.outcome = std::move(o);
  }

  // Renewals run every lease/4 while a reservation is held, and renew those older than half a
  // lease: each is renewed at least every 3/4 of a lease, before it could end.
  void arm_renewal() {
    renew_armed = true;
    renew_timer.expires_after(std::chrono::microseconds(std::max<Micros>(lease / 4, 1000)));
    renew_timer.async_wait([self = shared_from_this()](const boost::system::error_code& ec) {
      self->renew_armed = false;
      if (!ec) self->renew_due();
    });
  }
  // Connected to the target: the common case, which needs no coroutine frame (ready()'s).
  bool connected(const RedisTarget& t) const {
    if (ac == nullptr) return false;
    if (t.sentinels.empty()) return sentinels.empty() && address == t.address;
    return !primary.empty() && address == primary && master == t.master &&
           std::equal(sentinels.begin(), sentinels.end(), t.sentinels.begin(), t.sentinels.end());
  }
  // The connection to the target: made at once to an address, or to the primary the sentinels
  // name, asked (once for all the requests that need it) and awaited within `timeout`.
  net::awaitable<bool> ready(const RedisTarget& t, std::chrono::milliseconds timeout) {
    if (t.sentinels.empty()) {
      if (!sentinels.empty()) retarget({}, {});
      if (ac == nullptr && !co_await pause(timeout)) co_return false;
      // Named, not temporaries: GCC 12 built `co_return co_await reach(std::string(...), ...)`
      // into a crash on the first request.
      const std::string addr(t.address);
      const bool up = co_await reach(addr, timeout);
      co_return up;
    }
    if (master != t.master ||
        !std::equal(sentinels.begin(), sentinels.end(), t.sentinels.begin(), t.sentinels.end()))
      retarget(t.sentinels, t.master);
    if (primary.empty()) {
      if (!co_await pause(timeout)) co_return false;
      if (primary.empty()) {  // else asked by another request meanwhile
        ask(timeout);
        co_await wait(ask_waiters, timeout);
        if (primary.empty()) co_return false;
      }
    }
    if (ac != nullptr && address == primary) co_return true;  // asked by another request
    const std::string addr = primary;  // `primary` may change while the lookup is waited for
    const bool up = co_await reach(addr, timeout);
    co_return up;
  }
  std::vector<std::weak_ptr<Pending>> ask_waiters;
  // The pause after a failure, waited out by a request when it ends within `timeout` (refused
  // at once otherwise): a brief drop costs the requests that meet it latency, not a 503.
  net::awaitable<bool> pause(std::chrono::milliseconds timeout) {
    const auto now = std::chrono::steady_clock::now();
    if (now >= retry_at) co_return true;
    if (retry_at - now >= timeout) co_return false;
    net::steady_timer t(ioc);
    t.expires_at(retry_at);
    co_await t.async_wait(net::as_tuple(net::use_awaitable));
    co_return true;
  }
  void retarget(std::span<const std::string> to, std::string_view name) {
    sentinels.assign(to.begin(), to.end());
    master = std::string(name);
    primary.clear();
    next_sentinel = 0;
    if (ac != nullptr) redisAsyncFree(ac);
  }
  // Asks the sentinels in turn (each within `timeout`) unless that is under way; wakes the
  // waiting requests with the answer.
  void ask(std::chrono::milliseconds timeout) {
    if (resolving) return;
    resolving = true;
    net::co_spawn(ioc, resolve(shared_from_this(), timeout), net::detached);
  }
  static net::awaitable<void> resolve(std::shared_ptr<Impl> self,
                                      std::chrono::milliseconds timeout) {
    Impl& s = *self;
    const std::vector<std::string> asked = s.sentinels;
    const std::string name = s.master;
    std::string found;
    for (std::size_t i = 0; i < asked.size() && found.empty(); ++i) {
      const std::optional<net::ip::tcp::endpoint> at =
          co_await endpoint_of(self, asked[s.next_sentinel++ % asked.size()], timeout);
      if (at) found = co_await ask_sentinel(s.ioc, *at, name, timeout);
    }
    s.resolving = false;
    ++s.metrics.limit_store_sentinel_asks[found.empty() ? 1 : 0];
    if (s.sentinels == asked && s.master == name) {  // not retargeted meanwhile
      if (found.empty()) {
        s.failed();
      } else {
        if (s.ac != nullptr && s.address != found) redisAsyncFree(s.ac);
        s.primary = std::move(found);
      }
    }
    wake(s.ask_waiters);
  }

  void renew_due() {
    if (renewals.head == nullptr) return;  // nothing held: the timer stops until keep()
    if (ac == nullptr) {
      if (sentinels.empty()) {
        connect(address);
      } else if (!primary.empty()) {
        connect(primary);
      } else if (std::chrono::steady_clock::now() >= retry_at) {
        ask(std::chrono::milliseconds(1000));  // renewed at the next tick
      }
    }
    const auto now = std::chrono::steady_clock::now();
    const auto half = std::chrono::microseconds(lease / 2);
    for (Renewal* r = renewals.head; r != nullptr && ac != nullptr; r = r->next_) {
      if (now - r->renewed_ < half) continue;
      const auto leases =
          static_cast<std::size_t>(std::count_if(r->limits_.begin(), r->limits_.end(), leased));
      if (submit(std::make_unique<Call>(Call{
              Op::renew, renew_command(renew_sha, r->limits_, r->id_, lease), nullptr, leases})))
        r->renewed_ = now;
    }
    arm_renewal();
  }
};

RedisStore::RedisStore(net::io_context& ioc, Metrics& metrics)
    : impl_(std::make_shared<Impl>(ioc, metrics)) {}

RedisStore::~RedisStore() {
  impl_->renew_timer.cancel();
  if (impl_->ac != nullptr) redisAsyncFree(impl_->ac);  // pending replies complete as lost
}

net::awaitable<std::optional<Outcome>> RedisStore::reserve(const RedisTarget& target,
                                                           std::span<const Applied> limits,
                                                           std::string_view id, Micros lease,
                                                           std::chrono::milliseconds timeout) {
  const std::shared_ptr<Impl> self = impl_;  // the worker may end while this waits
  Impl& s = *self;
  if (!s.connected(target) && !co_await s.ready(target, timeout)) co_return std::nullopt;
  s.lease = lease;
  auto pending = std::make_shared<Impl::Pending>(s.ioc);
  pending->n = limits.size();
  if (!s.submit(std::make_unique<Impl::Call>(
          Impl::Call{Impl::Op::reserve, script_command(s.reserve_sha, limits, id, lease, {}, false),
                     pending})))
    co_return std::nullopt;
  pending->timer.expires_after(timeout);
  co_await pending->timer.async_wait(net::as_tuple(net::use_awaitable));
  if (!pending->done) {
    // No answer in time: the connection is presumed dead (its replies would now be out of
    // step with the requests waiting on them); the next request reconnects.
    s.count_error(LimitStoreError::timeout);
    pending->done = true;  // no longer waited for
    s.lost();
    co_return std::nullopt;
  }
  co_return pending->outcome;
}

net::awaitable<void> RedisStore::settle(std::span<const Applied> limits,
                                        std::span<const std::int64_t> actual, std::string_view id,
                                        std::chrono::milliseconds timeout) {
  Impl& s = *impl_;
  auto pending = std::make_shared<Impl::Pending>(s.ioc);
  // Not sent without a connection: the lease ends the reservation.
  if (!s.submit(std::make_unique<Impl::Call>(
          Impl::Call{Impl::Op::settle,
                     script_command(s.settle_sha, limits, id, s.lease, actual, true), pending})))
    co_return;
  pending->timer.expires_after(timeout);
  co_await pending->timer.async_wait(net::as_tuple(net::use_awaitable));
  if (!pending->done) {
    s.count_error(LimitStoreError::timeout);
    pending->done = true;  // the answer, should it come, is no round trip anyone waited for
  }
}

void RedisStore::release(std::span<const Applied> limits, std::string_view id) {
  Impl& s = *impl_;
  if (s.ac == nullptr) return;  // the lease ends the reservation
  const std::vector<std::int64_t> none(limits.size(), 0);
  s.submit(std::make_unique<Impl::Call>(Impl::Call{
      Impl::Op::release, script_command(s.settle_sha, limits, id, s.lease, none, true), nullptr}));
}

void RedisStore::keep(Renewal& node, std::span<const Applied> limits, std::string_view id) {
  node.unlink();
  if (std::none_of(limits.begin(), limits.end(), leased)) return;
  Impl& s = *impl_;
  node.limits_ = limits;
  node.id_ = id;
  node.renewed_ = std::chrono::steady_clock::now();
  node.owner_ = &s.renewals;
  node.next_ = s.renewals.head;
  if (node.next_ != nullptr) node.next_->prev_ = &node;
  s.renewals.head = &node;
  if (!s.renew_armed) s.arm_renewal();
}

StoredStates read_redis_states(const RedisTarget& target, std::chrono::milliseconds timeout,
                               const Settings& settings) {
  StoredStates out;
  const timeval tv{static_cast<time_t>(timeout.count() / 1000),
                   static_cast<suseconds_t>(timeout.count() % 1000 * 1000)};
  using Context = std::unique_ptr<redisContext, void (*)(redisContext*)>;
  std::string addr(target.address);
  if (!target.sentinels.empty()) {
    // The primary as the first sentinel that answers names it.
    addr.clear();
    const std::string name(target.master);
    for (const std::string& sentinel : target.sentinels) {
      const auto [host, port] = split_address(sentinel);
      Context c(redisConnectWithTimeout(host.c_str(), port, tv), redisFree);
      if (c == nullptr || c->err) continue;
      redisSetTimeout(c.get(), tv);
      const std::unique_ptr<redisReply, void (*)(void*)> r(
          static_cast<redisReply*>(redisCommand(c.get(), "SENTINEL get-master-addr-by-name %b",
                                                name.data(), name.size())),
          freeReplyObject);
      if (r && r->type == REDIS_REPLY_ARRAY && r->elements == 2) {
        addr = std::string(r->element[0]->str, r->element[0]->len) + ":" +
               std::string(r->element[1]->str, r->element[1]->len);
        break;
      }
    }
    if (addr.empty()) {
      out.error = "no sentinel names a primary for '" + name + "'";
      return out;
    }
  }
  const auto [host, port] = split_address(addr);
  Context c(redisConnectWithTimeout(host.c_str(), port, tv), redisFree);
  if (c == nullptr || c->err) {
    out.error = "cannot connect to Redis at " + addr + (c ? std::string(": ") + c->errstr : "");
    return out;
  }
  redisSetTimeout(c.get(), tv);
  using Reply = std::unique_ptr<redisReply, void (*)(void*)>;
  auto command = [&](std::vector<std::string> args) {
    std::vector<const char*> argv;
    std::vector<size_t> lens;
    for (const std::string& a : args) {
      argv.push_back(a.data());
      lens.push_back(a.size());
    }
    return Reply(static_cast<redisReply*>(redisCommandArgv(c.get(), static_cast<int>(argv.size()),
                                                           argv.data(), lens.data())),
                 freeReplyObject);
  };
  const Reply time = command({"TIME"});
  if (!time || time->type != REDIS_REPLY_ARRAY || time->elements != 2) {
    out.error = "Redis at " + addr + " did not answer";
    return out;
  }
  out.now = std::atoll(time->element[0]->str) * 1'000'000 + std::atoll(time->element[1]->str);
  constexpr std::string_view kPrefix = "warden:limit:";
  std::string cursor = "0";
  do {
    const Reply page = command({"SCAN", cursor, "MATCH", "warden:limit:*", "COUNT", "1000"});
    if (!page || page->type != REDIS_REPLY_ARRAY || page->elements != 2) {
      out.error = "Redis at " + addr + " did not answer SCAN";
      return out;
    }
    cursor.assign(page->element[0]->str, page->element[0]->len);
    const redisReply* keys = page->element[1];
    for (std::size_t i = 0; i < keys->elements; ++i) {
      const std::string key(keys->element[i]->str, keys->element[i]->len);
      if (key.find('\x1f') != std::string::npos) continue;  // leases and holdings
      const Reply v = command({"HMGET", key, "tat", "ws", "used", "res"});
      if (!v || v->type != REDIS_REPLY_ARRAY || v->elements != 4) continue;
      auto num = [&](std::size_t j) -> std::int64_t {
        const redisReply* e = v->element[j];
        return e->type == REDIS_REPLY_STRING ? std::atoll(e->str) : 0;
      };
      State state{num(0), num(1), num(2), num(3)};
      // Leases that ended still count in the state until a script meets the key again and gives
      // them back first: they are given back here the same way, at the server's time.
      const Rule* rule = rule_of_key(settings, std::string_view(key).substr(kPrefix.size()));
      const Reply gone =
          command({"ZRANGEBYSCORE", key + "\x1f" + "leases", "-inf", std::to_string(out.now)});
      if (rule != nullptr && gone && gone->type == REDIS_REPLY_ARRAY && gone->elements > 0) {
        std::vector<std::string> args{"HMGET", key + "\x1f" + "held"};
        for (std::size_t j = 0; j < gone->elements; ++j)
          args.emplace_back(gone->element[j]->str, gone->element[j]->len);
        const Reply held = command(std::move(args));
        std::int64_t sum = 0;
        for (std::size_t j = 0; held && held->type == REDIS_REPLY_ARRAY && j < held->elements;
             ++j) {
          const redisReply* e = held->element[j];
          if (e->type == REDIS_REPLY_STRING) sum += std::atoll(e->str);
        }
        if (rule->spec.kind == Kind::budget)
          state.reserved = std::max<std::int64_t>(0, state.reserved - sum);
        if (rule->spec.kind == Kind::concurrency)
          state.used = std::max<std::int64_t>(0, state.used - sum);
      }
      out.states.push_back({key.substr(kPrefix.size()), state});
    }
  } while (cursor != "0");
  std::sort(out.states.begin(), out.states.end(),
            [](const auto& a, const auto& b) { return a.first < b.first; });
  return out;
}

}  // namespace warden::limits
