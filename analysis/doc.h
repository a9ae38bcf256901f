// A report document written once and rendered as Markdown and as one
// self-contained HTML page (inline SVG figures): the planning guide and the
// objective comparison share it.
#pragma once

#include <cstdio>
#include <sstream>
#include <string>
#include <vector>

namespace scalebed::analysis {

// printf of one number into a string.
inline std::string fmt(const char* f, double v) {
  char buf[64];
  std::snprintf(buf, sizeof buf, f, v);
  return buf;
}

// A document as blocks, rendered to both Markdown and HTML.
struct Doc {
  // The whole HTML page: one self-contained file (inline SVG, no scripts).
  std::string page(const std::string& title) const;
  std::ostringstream md, html;
  void heading(int level, const std::string& text) {
    md << std::string(level, '#') << " " << text << "\n\n";
    html << "<h" << level << ">" << text << "</h" << level << ">\n";
  }
  void paragraph(const std::string& text) {
    md << text << "\n\n";
    html << "<p>" << text << "</p>\n";
  }
  void bullets(const std::vector<std::string>& items) {
    html << "<ul>\n";
    for (const auto& i : items) {
      md << "- " << i << "\n";
      html << "<li>" << i << "</li>\n";
    }
    md << "\n";
    html << "</ul>\n";
  }
  void table(const std::vector<std::string>& header,
             const std::vector<std::vector<std::string>>& rows) {
    md << "|";
    html << "<table><tr>";
    for (const auto& h : header) {
      md << " " << h << " |";
      html << "<th>" << h << "</th>";
    }
    md << "\n|";
    for (size_t i = 0; i < header.size(); ++i) md << "---|";
    md << "\n";
    html << "</tr>\n";
    for (const auto& r : rows) {
      md << "|";
      html << "<tr>";
      for (const auto& c : r) {
        md << " " << c << " |";
        html << "<td>" << c << "</td>";
      }
      md << "\n";
      html << "</tr>\n";
    }
    md << "\n";
    html << "</table>\n";
  }
  void figure(const std::string& file, const std::string& svg, const std::string& caption) {
    md << "![" << caption << "](" << file << ")\n\n";
    html << "<figure>" << svg << "<figcaption>" << caption << "</figcaption></figure>\n";
  }
};

inline std::string sci(double v) {
  return fmt("%.3g", v);
}

}  // namespace scalebed::analysis
