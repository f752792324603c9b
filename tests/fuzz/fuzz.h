// Shared by the fuzz targets: how a target reports a broken property, and the inspection engine
// they scan with. A target aborts on a broken property (libFuzzer then keeps the input; the replay
// runner fails); assert() would vanish in release builds.
#pragma once

#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

#include "inspect/body.h"
#include "inspect/inspect.h"

#define FUZZ_CHECK(cond, what)                                                                    \
  do {                                                                                            \
    if (!(cond)) {                                                                                \
      std::fprintf(stderr, "%s:%d: property broken: %s (%s)\n", __FILE__, __LINE__, what, #cond); \
      std::abort();                                                                               \
    }                                                                                             \
  } while (0)

namespace warden::fuzz {

// The built-in detectors plus two custom ones (a word and a regex), compiled once per process.
inline const inspect::Engine& engine() {
  static const inspect::EnginePtr e =
      inspect::Engine::compile({{"project", {"PRJ-[0-9]{4}"}, {"Bluebird"}}});
  return *e;
}

// Every class of the engine gets an action: mask or pseudonymise, alternating, so both kinds of
// replacement occur in one input.
inline inspect::ActionTable transform_actions() {
  inspect::ActionTable t;
  bool mask = true;
  for (const std::string& cls : engine().classes()) {
    t.set(cls, mask ? inspect::Action::kMask : inspect::Action::kPseudonymise);
    mask = !mask;
  }
  return t;
}

}  // namespace warden::fuzz
