// warden: the command line. Control plane: errors are reported and end the process.
#include <CLI/CLI.hpp>

#include <iostream>
#include <string>

#include "cli/policy_command.h"
#include "cli/scan_command.h"
#include "config/config.h"
#include "identity/identity.h"
#include "server/server.h"

int main(int argc, char** argv) {
  CLI::App app{"Warden: a sovereign AI gateway"};
  app.require_subcommand(1);

  std::string serve_config = "examples/warden.yaml";
  auto* serve = app.add_subcommand("serve", "Run the gateway");
  serve->add_option("-c,--config", serve_config, "Configuration file")->check(CLI::ExistingFile);

  std::string check_file;
  auto* check = app.add_subcommand("check", "Validate a configuration file");
  check->add_option("file", check_file, "Configuration file")->required();

  auto* keys = app.add_subcommand("keys", "API key tools");
  keys->require_subcommand(1);
  std::string key;
  auto* hash = keys->add_subcommand("hash", "Print the SHA-256 digest to configure for a key");
  hash->add_option("key", key, "The API key (read from standard input when absent)");

  warden::cli::ScanOptions scan_opts;
  auto* scan = app.add_subcommand("scan", "Find sensitive data in a text (or many, or a corpus)");
  scan->add_option("--config", scan_opts.config, "Use this configuration's detectors");
  scan->add_option("--format", scan_opts.format, "text or json")
      ->check(CLI::IsMember({"text", "json"}));
  scan->add_flag("--jsonl", scan_opts.jsonl, "Input lines {id, text}; one output line each");
  scan->add_option("--eval", scan_opts.eval, "Corpus of {text, findings} lines: P/R/F1");
  scan->add_option("input", scan_opts.input, "File to scan, or - for standard input");

  auto* pol = app.add_subcommand("policy", "Policy tools");
  pol->require_subcommand(1);
  std::string policy_tests;
  auto* ptest = pol->add_subcommand("test", "Run YAML test cases against a configuration");
  ptest->add_option("file", policy_tests, "Test file")->required();

  warden::cli::ExplainOptions explain_opts;
  auto* explain = app.add_subcommand("explain", "Show findings and each deployment's decision");
  explain->add_option("--config", explain_opts.config, "Configuration")->required();
  explain->add_option("--key", explain_opts.key, "The caller's API key")->required();
  explain->add_option("--model", explain_opts.model, "Model")->required();
  explain->add_option("--text", explain_opts.text, "Prompt text");
  explain->add_option("--request", explain_opts.request, "Request JSON file");

  CLI11_PARSE(app, argc, argv);
  if (*ptest) return warden::cli::run_policy_test(policy_tests);
  if (*explain) return warden::cli::run_explain(explain_opts);
  if (*scan) return warden::cli::run_scan(scan_opts);

  if (*serve) return warden::serve({serve_config});
  if (*check) {
    try {
      auto config = warden::load_config(check_file);
      for (const auto& w : config->warnings) std::cerr << w << "\n";
      std::cout << check_file << ": ok (" << config->catalog.providers.size() << " providers, "
                << config->catalog.models.size() << " models, " << config->keys.size()
                << " keys)\n";
      return 0;
    } catch (const warden::ConfigError& e) {
      for (const auto& d : e.diagnostics()) std::cerr << d.str() << "\n";
      return 1;
    }
  }
  if (*hash) {
    if (key.empty() && !std::getline(std::cin, key)) {
      std::cerr << "no key given\n";
      return 1;
    }
    const auto digest = warden::sha256(key);
    std::cout << warden::to_hex(digest.data(), digest.size()) << "\n";
    return 0;
  }
  return 0;
}
