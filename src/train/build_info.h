// The git commit the trainer was built from (recorded in every summary.json).
#pragma once

#include <string>

namespace scalebed {
std::string build_commit();
}  // namespace scalebed
