// Reads a scripts/servers.sh env file (NAME=value lines) into a map.
#pragma once

#include <fstream>
#include <map>
#include <string>

namespace reservoir::testing {

inline std::map<std::string, std::string> read_env_file(const std::string& path) {
  std::map<std::string, std::string> out;
  std::ifstream in(path);
  for (std::string line; std::getline(in, line);) {
    const auto eq = line.find('=');
    if (eq == std::string::npos) continue;
    std::string value = line.substr(eq + 1);
    // Values with shell metacharacters (the TLS URL's `&`) are single-quoted for `. file`.
    if (value.size() >= 2 && value.front() == '\'' && value.back() == '\'') value = value.substr(1, value.size() - 2);
    out[line.substr(0, eq)] = value;
  }
  return out;
}

}  // namespace reservoir::testing
