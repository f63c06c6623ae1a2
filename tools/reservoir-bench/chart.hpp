// The latency distribution per scenario, drawn by gnuplot (Debian: gnuplot-nox) as a PNG:
// one panel per scenario, one curve per mode (pooled and each baseline).
#pragma once

#include <string>
#include <vector>

#include "report.hpp"

namespace bench {

// Writes the data and a gnuplot script to a temporary directory, runs gnuplot, removes the
// directory. Errors: unavailable (gnuplot missing or failed; its stderr is passed through).
reservoir::Status draw_chart(const std::string& png_path, const std::vector<ScenarioGroup>& groups,
                             const std::string& title);

}  // namespace bench
