// warden: the command line. Control plane: errors are reported and end the process.
#include <CLI/CLI.hpp>

#include <iostream>
#include <string>

#include "cli/audit_command.h"
#include "cli/limits_command.h"
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

  auto* lim = app.add_subcommand("limits", "Limit tools");
  lim->require_subcommand(1);
  std::string limits_config = "examples/warden.yaml";
  auto* lshow = lim->add_subcommand(
      "show", "What the limit store holds: used, reserved and remaining per limit key");
  lshow->add_option("-c,--config", limits_config, "Configuration file")->check(CLI::ExistingFile);

  warden::cli::ExplainOptions explain_opts;
  auto* explain = app.add_subcommand("explain", "Show findings and each deployment's decision");
  explain->add_option("--config", explain_opts.config, "Configuration")->required();
  explain->add_option("--key", explain_opts.key, "The caller's API key")->required();
  explain->add_option("--model", explain_opts.model, "Model")->required();
  explain->add_option("--text", explain_opts.text, "Prompt text");
  explain->add_option("--request", explain_opts.request, "Request JSON file");
  explain->add_option("--kind", explain_opts.kind,
                      "The request's API: chat, completion, embedding, messages, responses");
  explain->add_option("--device", explain_opts.device,
                      "The caller's device: YAML file or inline ({managed: true, os: macOS})");

  warden::cli::AuditOptions audit_opts;
  auto add_filters = [&](CLI::App* c) {
    c->add_option("--db", audit_opts.db, "Audit SQLite file");
    c->add_option("--config", audit_opts.config, "Configuration naming the audit store");
    c->add_option("--since", audit_opts.since, "From this time (ISO 8601 UTC or epoch ms)");
    c->add_option("--until", audit_opts.until, "Before this time");
  };
  auto* aud = app.add_subcommand("audit", "Read and verify the audit trail");
  aud->require_subcommand(1);
  auto* verify = aud->add_subcommand(
      "verify", "Prove each chain is whole and matches its signed checkpoints (or an archive)");
  add_filters(verify);
  verify->add_option("--pubkey", audit_opts.pubkeys, "A trusted checkpoint public key (PEM)");
  verify->add_option("--checkpoint", audit_opts.checkpoint_files,
                     "Checkpoints kept outside the store (a witness's copy, a log)");
  verify->add_option("--witness-key", audit_opts.witness_keys,
                     "A witness's public key (PEM): its countersignatures must hold");
  verify->add_option("--archive", audit_opts.archive, "Verify this archive file instead");
  auto* prove = aud->add_subcommand("prove", "Inclusion or consistency proof (JSON)");
  prove->add_option("--db", audit_opts.db, "Audit SQLite file (or postgres:CONNINFO)");
  prove->add_option("--config", audit_opts.config, "Configuration naming the audit store");
  prove->add_option("--request-id", audit_opts.request_id, "Prove this request's record");
  prove->add_option("--from", audit_opts.from, "Older checkpoint (file, or seq in the store)");
  prove->add_option("--to", audit_opts.to, "Newer checkpoint (file, or seq in the store)");
  prove->add_option("--chain", audit_opts.chain, "Chain (when the store holds several)");
  auto* archive =
      aud->add_subcommand("archive", "Move records before a time to a self-verifying archive file");
  archive->add_option("--db", audit_opts.db, "Audit SQLite file (or postgres:CONNINFO)");
  archive->add_option("--config", audit_opts.config, "Configuration naming the audit store");
  archive->add_option("--before", audit_opts.before, "Records before this time")->required();
  archive->add_option("--out", audit_opts.out, "Archive file (gzip)")->required();
  archive->add_option("--chain", audit_opts.chain, "Chain (when the store holds several)");
  archive->add_option("--pubkey", audit_opts.pubkeys, "Check the archive's signatures too");
  auto* keygen = aud->add_subcommand("keygen", "New Ed25519 checkpoint signing key");
  keygen->add_option("--out", audit_opts.out, "Private key file (FILE.pub: public key)")
      ->required();
  auto* tail = aud->add_subcommand("tail", "The last records");
  add_filters(tail);
  tail->add_option("-n", audit_opts.limit, "How many");
  auto* exp = aud->add_subcommand("export", "Export records");
  add_filters(exp);
  for (CLI::App* c : {tail, exp}) {
    c->add_option("--format", audit_opts.format, "jsonl or csv")
        ->check(CLI::IsMember({"jsonl", "csv"}));
    c->add_option("--principal", audit_opts.principal, "Only this principal");
    c->add_option("--model", audit_opts.model, "Only this model");
    c->add_option("--jurisdiction", audit_opts.jurisdiction,
                  "Only deployments under this jurisdiction");
    c->add_option("--decision", audit_opts.decision, "permit, deny or error");
    c->add_option("--class", audit_opts.cls, "Only records carrying this data class (or prefix)");
  }
  auto* replay =
      app.add_subcommand("replay", "Re-evaluate recorded requests under a candidate policy");
  add_filters(replay);
  replay->add_option("--policy", audit_opts.policy, "Candidate configuration")->required();
  replay
      ->add_option("--fail-on", audit_opts.fail_on,
                   "deny: exit 1 if a permitted request would be denied")
      ->check(CLI::IsMember({"deny"}));

  CLI11_PARSE(app, argc, argv);
  if (*verify) return warden::cli::run_audit_verify(audit_opts);
  if (*prove) return warden::cli::run_audit_prove(audit_opts);
  if (*archive) return warden::cli::run_audit_archive(audit_opts);
  if (*keygen) return warden::cli::run_audit_keygen(audit_opts);
  if (*tail) return warden::cli::run_audit_tail(audit_opts);
  if (*exp) return warden::cli::run_audit_export(audit_opts);
  if (*replay) return warden::cli::run_replay(audit_opts);
  if (*ptest) return warden::cli::run_policy_test(policy_tests);
  if (*explain) return warden::cli::run_explain(explain_opts);
  if (*lshow) return warden::cli::run_limits_show(limits_config);
  if (*scan) return warden::cli::run_scan(scan_opts);

  if (*serve) return warden::serve({serve_config});
  if (*check) {
    try {
      auto config = warden::load_config(check_file);
      for (const auto& w : config->warnings) std::cerr << w << "\n";
      std::cout << check_file << ": ok (" << config->catalog.providers.size() << " providers, "
                << config->catalog.models.size() << " models, " << config->keys.size()
                << " keys)\n";
      // The limits as they will apply, one line each.
      const std::string limits = config->limits.describe();
      if (!limits.empty()) std::cout << "limits:\n" << limits;
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
