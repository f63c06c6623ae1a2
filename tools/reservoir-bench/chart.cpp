#include "chart.hpp"

#include <spawn.h>
#include <stdlib.h>
#include <sys/wait.h>

#include <cstring>
#include <filesystem>
#include <fstream>

extern char** environ;

namespace bench {

namespace {

// A gnuplot single-quoted string: a quote inside is doubled.
std::string quoted(const std::string& s) {
  std::string out = "'";
  for (char c : s) {
    if (c == '\'') out.push_back('\'');
    out.push_back(c);
  }
  return out + "'";
}

reservoir::Status run_gnuplot(const std::string& script) {
  pid_t pid = -1;
  std::string program = "gnuplot";
  char* argv[] = {program.data(), const_cast<char*>(script.c_str()), nullptr};
  const int rc = posix_spawnp(&pid, "gnuplot", nullptr, nullptr, argv, environ);
  if (rc != 0) {
    return reservoir::Error::make(reservoir::ErrorKind::unavailable,
                                  "--chart: cannot run gnuplot (apt-get install gnuplot-nox): " + std::string(strerror(rc)));
  }
  int status = 0;
  while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    return reservoir::Error::make(reservoir::ErrorKind::unavailable, "--chart: gnuplot failed (status " + std::to_string(status) + ")");
  }
  return {};
}

}  // namespace

reservoir::Status draw_chart(const std::string& png_path, const std::vector<ScenarioGroup>& groups, const std::string& title) {
  std::string tmpl = (std::filesystem::temp_directory_path() / "reservoir-bench-chart-XXXXXX").string();
  if (mkdtemp(tmpl.data()) == nullptr) {
    return reservoir::Error::make(reservoir::ErrorKind::unavailable, "--chart: cannot create a temporary directory");
  }
  const std::filesystem::path dir = tmpl;
  const int panels = static_cast<int>(groups.size());
  const int rows = (panels + 1) / 2;
  const int cols = panels > 1 ? 2 : 1;
  std::ofstream gp(dir / "chart.gp");
  gp << "set terminal pngcairo size " << 640 * cols << "," << 380 * rows + 40 << " noenhanced font ',9'\n"
     << "set output " << quoted(png_path) << "\n"
     << "set multiplot layout " << rows << "," << cols << " title " << quoted(title) << "\n"
     << "set logscale x\nset grid\nset key bottom right\nset yrange [0:100]\n"
     << "set xlabel 'latency (us, log scale)'\nset ylabel 'operations at or below (%)'\n";
  int file_no = 0;
  for (const auto& g : groups) {
    gp << "set title " << quoted(g.spec.name + ": " + g.spec.describe()) << "\n";
    std::string plot;
    for (const auto& r : g.runs) {
      if (r.cdf.empty()) continue;
      std::string name = "d";  // not `"d" + ...`: g++ 12 -Wrestrict false positive
      name += std::to_string(file_no++);
      name += ".dat";
      const auto data = dir / name;
      std::ofstream d(data);
      for (const auto& [pct, us] : r.cdf) d << std::max(us, 0.001) << ' ' << pct << '\n';
      plot += (plot.empty() ? "plot " : ", ") + quoted(data.string()) + " using 1:2 with lines lw " +
              (r.mode == Mode::pooled ? "2" : "1") + " title " + quoted(std::string(to_string(r.mode)));
    }
    gp << (plot.empty() ? "plot NaN notitle" : plot) << "\n";
  }
  gp << "unset multiplot\n";
  gp.close();
  reservoir::Status st = run_gnuplot((dir / "chart.gp").string());
  std::error_code ec;
  std::filesystem::remove_all(dir, ec);
  if (st && !std::filesystem::exists(png_path)) {
    return reservoir::Error::make(reservoir::ErrorKind::unavailable, "--chart: gnuplot wrote no " + png_path);
  }
  return st;
}

}  // namespace bench
