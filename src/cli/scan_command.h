// `warden scan`: runs the inspection engine on text from the command line (control plane).
#pragma once

#include <string>

namespace warden::cli {

struct ScanOptions {
  std::string config;  // empty: built-in detectors
  std::string format = "text";
  bool jsonl = false;       // many texts: {"id","text"} per line
  std::string eval;         // corpus path: precision / recall / F1 per class
  std::string input = "-";  // file or "-"
};

int run_scan(const ScanOptions& options);

}  // namespace warden::cli
