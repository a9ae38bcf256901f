// Shared by the analysis tests (test_analysis.cpp, test_curves.cpp): the
// reference data they read.
#pragma once

#include <string>

namespace scalebed::analysis {

// Epoch AI's extraction of Chinchilla's points (../shared/data).
inline const std::string kChinchilla =
    std::string(SCALEBED_SHARED_DIR) + "/data/chinchilla_epoch_svg_extracted.csv";

}  // namespace scalebed::analysis
