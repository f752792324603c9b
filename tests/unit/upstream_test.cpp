#include <gtest/gtest.h>

#include "upstream/upstream.h"

namespace warden {
namespace {

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

}  // namespace
}  // namespace warden
