#include <gtest/gtest.h>

#include "metrics/metrics.h"

namespace warden {
namespace {

TEST(Metrics, MergesWorkersAndRendersPrometheusText) {
  Metrics a;
  Metrics b;
  a.count_request("chat", 200, "gpt", 0.003);
  b.count_request("chat", 200, "gpt", 0.2);
  b.count_request("chat", 502, "gpt", 0.01);
  b.count_upstream_error("demo", "connect");
  a.in_flight = 2;
  b.in_flight = 1;
  Metrics total;
  total.merge(a);
  total.merge(b);
  const std::string text = total.render(3, 1);
  EXPECT_NE(text.find(R"(warden_requests_total{route="chat",status="200",model="gpt"} 2)"),
            std::string::npos);
  EXPECT_NE(text.find(R"(warden_requests_total{route="chat",status="502",model="gpt"} 1)"),
            std::string::npos);
  EXPECT_NE(text.find(R"(warden_request_duration_seconds_bucket{route="chat",le="0.005"} 1)"),
            std::string::npos);
  EXPECT_NE(text.find(R"(warden_request_duration_seconds_count{route="chat"} 3)"),
            std::string::npos);
  EXPECT_NE(text.find(R"(warden_upstream_errors_total{provider="demo",reason="connect"} 1)"),
            std::string::npos);
  EXPECT_NE(text.find("warden_requests_in_flight 3"), std::string::npos);
  EXPECT_NE(text.find("warden_config_reloads_total 3"), std::string::npos);
}

TEST(Metrics, HistogramBucketsAreCumulative) {
  Histogram h;
  h.observe(0.0001);
  h.observe(100);
  EXPECT_EQ(h.counts.front(), 1u);
  EXPECT_EQ(h.counts.back(), 1u);
  EXPECT_EQ(h.count, 2u);
}

}  // namespace
}  // namespace warden
