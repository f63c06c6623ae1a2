// What reservoir-bench prints and writes: a table per scenario, seed 001's criteria (and the
// issue's targets) as PASS/FAIL lines, the JSON document, the machine it ran on.
#pragma once

#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "options.hpp"
#include "scenario.hpp"

namespace bench {

struct Criterion {
  std::string name;      // e.g. "throughput >= 55000 ops/s"
  std::string where;     // the scenario(s) it was judged on
  std::string measured;  // the figure, with its unit
  bool pass = false;
  bool fails_run = false;  // a FAIL exits non-zero even without --strict
};

// Results of one scenario: the pooled run and its baselines, in the order run.
struct ScenarioGroup {
  ScenarioSpec spec;
  std::vector<ScenarioResult> runs;
  const ScenarioResult* find(Mode mode) const;
};

void print_table(std::FILE* out, const ScenarioGroup& group, const Options& o);
std::vector<Criterion> judge(const std::vector<ScenarioGroup>& groups, const Options& o);
void print_criteria(std::FILE* out, const std::vector<Criterion>& criteria);

// The --json document: every figure, the machine (its load at the start and the end), the
// versions and the config.
class JsonDocument {
 public:
  JsonDocument();  // the start: the time and the machine, now
  ~JsonDocument();
  JsonDocument(const JsonDocument&) = delete;
  JsonDocument& operator=(const JsonDocument&) = delete;
  // Adds the rest and returns the document's text.
  std::string finish(Backend& b, const Options& o, const std::vector<ScenarioGroup>& groups,
                     const std::vector<Criterion>& criteria, int exit_code);

 private:
  std::unique_ptr<nlohmann::json> doc_;
};

}  // namespace bench
