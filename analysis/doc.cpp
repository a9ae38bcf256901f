// The HTML page around a Doc.
#include "doc.h"

namespace scalebed::analysis {

std::string Doc::page(const std::string& title) const {
  return "<!doctype html><html><head><meta charset=\"utf-8\"><title>" + title +
         "</title><style>body{font-family:sans-serif;max-width:980px;margin:2em auto;"
         "line-height:1.4}table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid "
         "#ccc;padding:4px 8px;text-align:right}figure{margin:1em 0}figcaption{color:#555;"
         "font-size:90%}</style></head><body>\n" +
         html.str() + "</body></html>\n";
}

}  // namespace scalebed::analysis
