// Fuzz target: the configuration loader (load_config_text), as `warden check`, `warden serve` and
// a reload call it.
// Properties: nothing crashes; the only exception is ConfigError (the callers catch nothing
// else), and it names at least one problem; a configuration that loads has a policy, an engine
// when inspection is on, and every deployment has its provider.
#include <cstdint>
#include <cstdlib>
#include <string>

#include "config/config.h"
#include "fuzz.h"

using namespace warden;

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  setenv("WARDEN_FUZZ_SECRET", "s3cret", 1);  // for ${...} in the seeds
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  try {
    const ConfigPtr config = load_config_text(text, "fuzz.yaml");
    FUZZ_CHECK(config->policy != nullptr, "a loaded configuration has a policy");
    FUZZ_CHECK(!config->inspect.enabled || config->inspect.engine != nullptr,
               "inspection on means an engine");
    for (const Model& m : config->catalog.models) {
      FUZZ_CHECK(config->catalog.find(m.name) == &m, "every model can be found by its name");
      for (const Deployment& d : m.deployments)
        FUZZ_CHECK(d.provider != nullptr, "every deployment has its provider");
    }
  } catch (const ConfigError& e) {
    FUZZ_CHECK(!e.diagnostics().empty(), "a rejected configuration names a problem");
  }
  return 0;
}
