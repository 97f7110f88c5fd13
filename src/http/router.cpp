#include "http/router.hpp"

#include "http/form.hpp"

#include <boost/url/pct_string_view.hpp>

namespace agentidp::http::detail {

bool DecodePathSegment(std::string_view raw, std::string& out) {
  auto pct = boost::urls::make_pct_string_view(raw);
  if (!pct) return false;
  out = pct->decode();
  if (out.find_first_of(std::string_view("/\0", 2)) != std::string::npos) return false;
  return IsValidUtf8(out);
}

bool SplitPath(std::string_view path, std::vector<std::string_view>& segments) {
  segments.clear();
  if (path.empty() || path.front() != '/') return false;
  path.remove_prefix(1);
  if (path.empty()) return true;
  for (;;) {
    size_t slash = path.find('/');
    segments.push_back(path.substr(0, slash));
    if (slash == std::string_view::npos) return true;
    path.remove_prefix(slash + 1);
  }
}

}  // namespace agentidp::http::detail
