// `warden policy test` and `warden explain`: tools for the people who write policy.
#pragma once

#include <string>

namespace warden::cli {

int run_policy_test(const std::string& file);

struct ExplainOptions {
  std::string config;
  std::string key;
  std::string model;
  std::string text;     // a prompt, or
  std::string request;  // a request JSON file
  std::string device;   // the caller's device: a YAML file, or inline YAML ({managed: true, …})
  std::string kind = "chat";  // the API the request is for (request.* attributes read from it)
};
int run_explain(const ExplainOptions& options);

}  // namespace warden::cli
