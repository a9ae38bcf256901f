// What the tests that drive the `trainer` binary share: its path (the target
// defines SCALEBED_TRAINER_PATH) and test_util.h's file and process helpers
// by their short names.
#pragma once

#include <string>

#include "test_util.h"

#ifndef SCALEBED_TRAINER_PATH
#error "tests including trainer_process.h need SCALEBED_TRAINER_PATH (tests/CMakeLists.txt)"
#endif

namespace scalebed {

using testing::read_text;
using testing::run_process;
using testing::spawn_process;
using testing::TempDir;
using testing::wait_process;
using testing::wait_until;
using testing::write_text;

inline const std::string kTrainer = SCALEBED_TRAINER_PATH;

}  // namespace scalebed
