// A small SVG line/scatter plot writer for the planning guide: log or linear
// axes with decade ticks, series of points or lines (solid or dashed), a
// legend. Self-contained output, no plotting dependency.
#pragma once

#include <string>
#include <vector>

namespace scalebed::analysis {

class SvgPlot {
 public:
  SvgPlot(std::string title, std::string x_label, std::string y_label, bool log_x, bool log_y);
  void add_points(const std::vector<double>& x, const std::vector<double>& y,
                  const std::string& color, const std::string& label, double radius = 3);
  void add_line(const std::vector<double>& x, const std::vector<double>& y,
                const std::string& color, const std::string& label, bool dashed = false);
  std::string render(int width = 640, int height = 420) const;

 private:
  struct Series {
    std::vector<double> x, y;
    std::string color, label;
    bool line, dashed;
    double radius;
  };
  std::string title_, x_label_, y_label_;
  bool log_x_, log_y_;
  std::vector<Series> series_;
};

// A palette of distinguishable colours for series k.
std::string series_color(size_t k);

}  // namespace scalebed::analysis
