// SVG rendering: scales, ticks, series and legend.
#include "svg_plot.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <sstream>

namespace scalebed::analysis {
namespace {

std::string escape(const std::string& s) {
  std::string out;
  for (char c : s) {
    if (c == '<')
      out += "&lt;";
    else if (c == '>')
      out += "&gt;";
    else if (c == '&')
      out += "&amp;";
    else
      out += c;
  }
  return out;
}

// About six round steps (1, 2 or 5 times a power of ten) from lo to hi.
std::vector<double> linear_ticks(double lo, double hi) {
  std::vector<double> t;
  const double raw = (hi - lo) / 6, mag = std::pow(10.0, std::floor(std::log10(raw)));
  const double step = raw / mag < 2 ? 2 * mag : raw / mag < 5 ? 5 * mag : 10 * mag;
  for (double k = std::ceil(lo / step); k * step <= hi; k += 1) t.push_back(k * step);
  return t;
}

std::string tick_label(double v, bool log) {
  char buf[32];
  if (log) {
    // Decades near 1 read as numbers (0.1, 1, 10), beside 1-2-5 ticks.
    const int e = static_cast<int>(std::lround(std::log10(v)));
    if (std::abs(e) <= 2) {
      std::snprintf(buf, sizeof buf, "%g", v);
    } else {
      std::snprintf(buf, sizeof buf, "1e%d", e);
    }
  } else {
    std::snprintf(buf, sizeof buf, "%.3g", v);
  }
  return buf;
}

}  // namespace

std::string series_color(size_t k) {
  static const char* colors[] = {"#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd",
                                 "#8c564b", "#e377c2", "#17becf", "#7f7f7f", "#bcbd22"};
  return colors[k % 10];
}

SvgPlot::SvgPlot(std::string title, std::string x_label, std::string y_label, bool log_x,
                 bool log_y)
    : title_(std::move(title)),
      x_label_(std::move(x_label)),
      y_label_(std::move(y_label)),
      log_x_(log_x),
      log_y_(log_y) {}

void SvgPlot::add_points(const std::vector<double>& x, const std::vector<double>& y,
                         const std::string& color, const std::string& label, double radius) {
  series_.push_back({x, y, color, label, false, false, radius});
}

void SvgPlot::add_line(const std::vector<double>& x, const std::vector<double>& y,
                       const std::string& color, const std::string& label, bool dashed) {
  series_.push_back({x, y, color, label, true, dashed, 0});
}

std::string SvgPlot::render(int width, int height) const {
  const double left = 70, right = 170, top = 34, bottom = 48;
  const double pw = width - left - right, ph = height - top - bottom;
  auto tx = [&](double v) { return log_x_ ? std::log10(v) : v; };
  auto ty = [&](double v) { return log_y_ ? std::log10(v) : v; };
  double x0 = 1e300, x1 = -1e300, y0 = 1e300, y1 = -1e300;
  for (const auto& s : series_) {
    for (size_t i = 0; i < s.x.size(); ++i) {
      if ((log_x_ && s.x[i] <= 0) || (log_y_ && s.y[i] <= 0) || !std::isfinite(s.y[i])) continue;
      x0 = std::min(x0, tx(s.x[i]));
      x1 = std::max(x1, tx(s.x[i]));
      y0 = std::min(y0, ty(s.y[i]));
      y1 = std::max(y1, ty(s.y[i]));
    }
  }
  if (x0 > x1) x0 = 0, x1 = 1;
  if (y0 > y1) y0 = 0, y1 = 1;
  if (x1 - x0 < 1e-12) x0 -= 0.5, x1 += 0.5;
  if (y1 - y0 < 1e-12) y0 -= 0.5, y1 += 0.5;
  const double xpad = 0.03 * (x1 - x0), ypad = 0.05 * (y1 - y0);
  x0 -= xpad, x1 += xpad, y0 -= ypad, y1 += ypad;
  auto px = [&](double v) { return left + (tx(v) - x0) / (x1 - x0) * pw; };
  auto py = [&](double v) { return top + ph - (ty(v) - y0) / (y1 - y0) * ph; };

  std::ostringstream o;
  o << "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"" << width << "\" height=\"" << height
    << "\" viewBox=\"0 0 " << width << " " << height
    << "\" font-family=\"sans-serif\" font-size=\"12\">\n";
  o << "<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n";
  o << "<text x=\"" << left + pw / 2 << "\" y=\"20\" text-anchor=\"middle\" font-size=\"14\">"
    << escape(title_) << "</text>\n";
  o << "<rect x=\"" << left << "\" y=\"" << top << "\" width=\"" << pw << "\" height=\"" << ph
    << "\" fill=\"none\" stroke=\"#333\"/>\n";
  // Ticks: decades on log axes, ~6 round steps on linear ones.
  auto ticks = [](double lo, double hi, bool log) {
    std::vector<double> t;
    if (log) {
      // Every decade, or every k-th when more than eight would crowd the labels.
      const double decades = std::floor(hi) - std::ceil(lo) + 1;
      const double every = std::max(1.0, std::ceil(decades / 8));
      for (double e = std::ceil(lo); e <= std::floor(hi); e += every)
        t.push_back(std::pow(10.0, e));
      // Less than two decades: 1-2-5 steps; where those still give fewer than
      // three labels (Chinchilla's losses, 1.9 to 3.3, span a quarter of a
      // decade), round linear steps between the axis ends.
      if (t.size() < 2) {
        t.clear();
        for (double e = std::floor(lo); e <= std::ceil(hi); e += 1)
          for (double m : {1.0, 2.0, 5.0}) {
            const double v = m * std::pow(10.0, e);
            if (std::log10(v) >= lo && std::log10(v) <= hi) t.push_back(v);
          }
      }
      if (t.size() < 3) {
        t = linear_ticks(std::pow(10.0, lo), std::pow(10.0, hi));
        t.erase(std::remove_if(t.begin(), t.end(), [](double v) { return v <= 0; }), t.end());
      }
    } else {
      t = linear_ticks(lo, hi);
    }
    return t;
  };
  for (double v : ticks(x0, x1, log_x_)) {
    const double x = px(v);
    o << "<line x1=\"" << x << "\" y1=\"" << top + ph << "\" x2=\"" << x << "\" y2=\"" << top
      << "\" stroke=\"#ddd\"/>\n<text x=\"" << x << "\" y=\"" << top + ph + 16
      << "\" text-anchor=\"middle\">"
      << tick_label(v, log_x_ && std::fabs(std::log10(v) - std::round(std::log10(v))) < 1e-9)
      << "</text>\n";
  }
  for (double v : ticks(y0, y1, log_y_)) {
    const double y = py(v);
    o << "<line x1=\"" << left << "\" y1=\"" << y << "\" x2=\"" << left + pw << "\" y2=\"" << y
      << "\" stroke=\"#ddd\"/>\n<text x=\"" << left - 6 << "\" y=\"" << y + 4
      << "\" text-anchor=\"end\">"
      << tick_label(v, log_y_ && std::fabs(std::log10(v) - std::round(std::log10(v))) < 1e-9)
      << "</text>\n";
  }
  o << "<text x=\"" << left + pw / 2 << "\" y=\"" << height - 10 << "\" text-anchor=\"middle\">"
    << escape(x_label_) << "</text>\n";
  o << "<text transform=\"translate(16," << top + ph / 2
    << ") rotate(-90)\" text-anchor=\"middle\">" << escape(y_label_) << "</text>\n";
  o << "<clipPath id=\"plot\"><rect x=\"" << left << "\" y=\"" << top << "\" width=\"" << pw
    << "\" height=\"" << ph << "\"/></clipPath>\n<g clip-path=\"url(#plot)\">\n";
  for (const auto& s : series_) {
    if (s.line) {
      o << "<polyline fill=\"none\" stroke=\"" << s.color << "\" stroke-width=\"2\""
        << (s.dashed ? " stroke-dasharray=\"6,4\"" : "") << " points=\"";
      for (size_t i = 0; i < s.x.size(); ++i) {
        if ((log_x_ && s.x[i] <= 0) || (log_y_ && s.y[i] <= 0) || !std::isfinite(s.y[i])) continue;
        o << px(s.x[i]) << "," << py(s.y[i]) << " ";
      }
      o << "\"/>\n";
    } else {
      for (size_t i = 0; i < s.x.size(); ++i) {
        if ((log_x_ && s.x[i] <= 0) || (log_y_ && s.y[i] <= 0) || !std::isfinite(s.y[i])) continue;
        o << "<circle cx=\"" << px(s.x[i]) << "\" cy=\"" << py(s.y[i]) << "\" r=\"" << s.radius
          << "\" fill=\"" << s.color << "\" fill-opacity=\"0.75\"/>\n";
      }
    }
  }
  o << "</g>\n";
  double ly = top + 8;
  for (const auto& s : series_) {
    if (s.label.empty()) continue;
    const double lx = left + pw + 12;
    if (s.line) {
      o << "<line x1=\"" << lx << "\" y1=\"" << ly << "\" x2=\"" << lx + 18 << "\" y2=\"" << ly
        << "\" stroke=\"" << s.color << "\" stroke-width=\"2\""
        << (s.dashed ? " stroke-dasharray=\"6,4\"" : "") << "/>\n";
    } else {
      o << "<circle cx=\"" << lx + 9 << "\" cy=\"" << ly << "\" r=\"4\" fill=\"" << s.color
        << "\"/>\n";
    }
    o << "<text x=\"" << lx + 24 << "\" y=\"" << ly + 4 << "\">" << escape(s.label) << "</text>\n";
    ly += 18;
  }
  o << "</svg>\n";
  return o.str();
}

}  // namespace scalebed::analysis
