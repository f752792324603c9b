#include <gtest/gtest.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/ip/tcp.hpp>

#include <cstdlib>
#include <cstring>
#include <optional>

#include "upstream/upstream.h"

namespace warden {
namespace {

namespace net = boost::asio;

// A loopback port nothing listens on (bound, then closed).
unsigned short closed_port() {
  net::io_context ioc;
  net::ip::tcp::acceptor a(ioc, {net::ip::make_address("127.0.0.1"), 0});
  return a.local_endpoint().port();
}

TEST(Upstream, BuildsOpenAIAndAzureTargets) {
  Provider openai;
  openai.kind = ProviderKind::kOpenAI;
  openai.base_path = "/v1";
  Provider azure;
  azure.kind = ProviderKind::kAzure;
  azure.api_version = "2024-10-21";
  Provider foundry = azure;
  foundry.base_path = "/models";
  Deployment d;
  d.upstream_model = "gpt4o-prod";
  d.provider = &openai;
  EXPECT_EQ(upstream::request_target(d, CallKind::kChat), "/v1/chat/completions");
  EXPECT_EQ(upstream::request_target(d, CallKind::kEmbedding), "/v1/embeddings");
  d.provider = &azure;
  EXPECT_EQ(upstream::request_target(d, CallKind::kCompletion),
            "/openai/deployments/gpt4o-prod/completions?api-version=2024-10-21");
  azure.base_path = "/openai";
  EXPECT_EQ(upstream::request_target(d, CallKind::kChat),
            "/openai/deployments/gpt4o-prod/chat/completions?api-version=2024-10-21");
  d.provider = &foundry;
  EXPECT_EQ(upstream::request_target(d, CallKind::kChat),
            "/models/chat/completions?api-version=2024-10-21");
}

TEST(Upstream, RetriesOnlyTransientStatuses) {
  for (int s : {429, 502, 503, 504}) EXPECT_TRUE(upstream::is_retryable_status(s)) << s;
  for (int s : {200, 400, 401, 404, 500}) EXPECT_FALSE(upstream::is_retryable_status(s)) << s;
}

// One acquire() on `pool`, run to its end.
std::optional<Result<std::unique_ptr<upstream::Connection>>> acquire_once(net::io_context& ioc,
                                                                          upstream::Pool& pool,
                                                                          const Provider& p) {
  std::optional<Result<std::unique_ptr<upstream::Connection>>> got;
  net::co_spawn(
      ioc, [&]() -> net::awaitable<void> { got.emplace(co_await pool.acquire(p)); }, net::detached);
  ioc.run();
  return got;
}

// Provider settings for a TLS connection to a loopback port nothing listens on.
Provider unreachable_tls_provider() {
  Provider p;
  p.name = "tls-provider";
  p.tls = true;
  p.host = "127.0.0.1";
  p.port = std::to_string(closed_port());
  p.timeouts.connect_ms = 2000;
  return p;
}

// A reload drops every entry of the pool, also while a coroutine waits in acquire() for a name
// to resolve. The hook makes that happen, then hands the freed memory to new allocations filled
// with garbage: a reference to the dropped entry held across the wait would read it (and crash).
TEST(UpstreamPool, AReloadWhileConnectingDropsNothingInUse) {
  net::io_context ioc;
  upstream::Pool pool(ioc);
  const Provider p = unreachable_tls_provider();
  std::vector<void*> reused;
  pool.set_resolved_hook([&] {
    pool.set_generation(pool.generation() + 1);
    for (size_t size = 16; size <= 256; size += 8) {
      void* block = std::malloc(size);
      std::memset(block, 0xa5, size);
      reused.push_back(block);
    }
  });
  const auto got = acquire_once(ioc, pool, p);
  for (void* block : reused) std::free(block);
  ASSERT_TRUE(got.has_value());
  ASSERT_FALSE(got->ok());  // nothing listens on the port: refused
  EXPECT_EQ(got->error().code, ErrorCode::kUpstreamUnavailable);
  EXPECT_EQ(pool.idle_count(), 0u);
}

// A CA file that cannot be loaded makes no connection (neither one that trusts the system store
// only): the exchange fails as the provider's failure.
TEST(UpstreamPool, AnUnreadableCaFileFailsTheConnection) {
  net::io_context ioc;
  upstream::Pool pool(ioc);
  Provider p = unreachable_tls_provider();
  p.ca_file = "/nonexistent/ca.pem";
  const auto got = acquire_once(ioc, pool, p);
  ASSERT_TRUE(got.has_value());
  ASSERT_FALSE(got->ok());
  EXPECT_NE(got->error().message.find("TLS settings"), std::string::npos) << got->error().message;
}

}  // namespace
}  // namespace warden
