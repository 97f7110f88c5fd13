#pragma once

// The route table's lookup structure (Beast-free). The app owns one Router with every
// route; the server never sees it.
//
// Patterns are absolute paths whose segments are literals, parameters "{name}" or, as
// the last segment only, a catch-all "{name*}" (for /portal/{path*}). Lookup walks a
// segment trie: at every level a literal beats a parameter, which beats a catch-all,
// with backtracking, so "/agents/search" and "/agents/{agentId}" coexist. Paths are
// matched as received (not normalised): no trailing-slash or double-slash folding.

#include <algorithm>
#include <functional>
#include <map>
#include <memory>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace agentidp::http {

namespace detail {

// Percent-decodes one path segment. False on a malformed escape, on an escape that
// decodes to '/' ("%2F" would let a parameter smuggle a path separator) or NUL, and on
// a result that is not UTF-8. '+' stays '+' in paths.
bool DecodePathSegment(std::string_view raw, std::string& out);

// Splits "/a/b" into {"a","b"}; "/" into {}; "/a/" into {"a",""}. False if the path
// does not start with '/'.
bool SplitPath(std::string_view path, std::vector<std::string_view>& segments);

}  // namespace detail

template <typename T>
class Router {
 public:
  struct Match {
    const T* value = nullptr;  // null: no route (404) or method mismatch (405)
    std::vector<std::pair<std::string, std::string>> params;  // decoded
    std::string pattern;                                      // of the matched route
    // The path matches at least one route but none for this method: answer 405 with
    // `Allow: <allowed_methods joined by ", ">`.
    bool method_mismatch = false;
    std::vector<std::string> allowed_methods;  // sorted; set when method_mismatch

    explicit operator bool() const { return value != nullptr; }
  };

  Router() : root_(std::make_unique<Node>()) {}

  // Throws std::invalid_argument on a malformed pattern or a duplicate (method,
  // pattern): the table is built once at start-up.
  void Add(std::string method, std::string pattern, T value);

  // `path` is Request::path (no query, not decoded). HEAD falls back to the GET route
  // when no HEAD route exists (RFC 9110 §9.3.2); the server drops the body.
  Match Find(std::string_view method, std::string_view path) const;

  // (method, pattern) in registration order.
  std::vector<std::pair<std::string, std::string>> Routes() const;
  size_t Size() const { return routes_.size(); }

 private:
  struct Route {
    std::string method;
    std::string pattern;
    std::vector<std::string> param_names;
    T value;
  };
  struct Node {
    std::map<std::string, std::unique_ptr<Node>, std::less<>> literals;
    std::unique_ptr<Node> param;
    // Routes ending at this node, and catch-all routes whose "{x*}" follows it.
    std::vector<std::pair<std::string, size_t>> terminal;
    std::vector<std::pair<std::string, size_t>> rest;
  };
  struct Search {
    const std::vector<std::string_view>* segments;
    std::string_view method;  // empty: collect every method whose route matches the path
    std::vector<std::string> values;
    size_t found = kNone;
    std::vector<std::string> allowed;
  };
  static constexpr size_t kNone = static_cast<size_t>(-1);

  static bool IsParamName(std::string_view s) {
    if (s.empty()) return false;
    for (char c : s) {
      bool ok =
          (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_';
      if (!ok) return false;
    }
    return true;
  }

  static size_t Lookup(const std::vector<std::pair<std::string, size_t>>& entries,
                       std::string_view method) {
    for (const auto& [m, index] : entries)
      if (m == method) return index;
    return kNone;
  }

  // True when the search is over (a route for the method was found).
  bool Visit(const Node& node, size_t depth, Search& s) const;
  bool Offer(const std::vector<std::pair<std::string, size_t>>& entries, Search& s) const;

  std::unique_ptr<Node> root_;
  std::vector<Route> routes_;
};

// ---------------------------------------------------------------------------------------

template <typename T>
void Router<T>::Add(std::string method, std::string pattern, T value) {
  if (method.empty()) throw std::invalid_argument("route method is empty");
  std::vector<std::string_view> segments;
  if (!detail::SplitPath(pattern, segments))
    throw std::invalid_argument("route pattern must start with '/': " + pattern);
  Node* node = root_.get();
  std::vector<std::string> names;
  bool catch_all = false;
  for (size_t i = 0; i < segments.size(); ++i) {
    std::string_view seg = segments[i];
    if (seg.size() >= 2 && seg.front() == '{' && seg.back() == '}') {
      std::string_view name = seg.substr(1, seg.size() - 2);
      if (name.ends_with('*')) {
        name.remove_suffix(1);
        if (i + 1 != segments.size())
          throw std::invalid_argument("catch-all must be the last segment: " + pattern);
        catch_all = true;
      }
      if (!IsParamName(name))
        throw std::invalid_argument("bad parameter name in route: " + pattern);
      if (std::find(names.begin(), names.end(), name) != names.end())
        throw std::invalid_argument("repeated parameter name in route: " + pattern);
      names.emplace_back(name);
      if (catch_all) break;
      if (!node->param) node->param = std::make_unique<Node>();
      node = node->param.get();
    } else {
      if (seg.empty() || seg.find_first_of("{}") != std::string_view::npos)
        throw std::invalid_argument("bad literal segment in route: " + pattern);
      auto it = node->literals.find(seg);
      if (it == node->literals.end())
        it = node->literals.emplace(std::string(seg), std::make_unique<Node>()).first;
      node = it->second.get();
    }
  }
  auto& entries = catch_all ? node->rest : node->terminal;
  // Same shape, same method: "/a/{x}" and "/a/{y}" would be ambiguous too.
  if (Lookup(entries, method) != kNone)
    throw std::invalid_argument("duplicate route: " + method + " " + pattern);
  entries.emplace_back(method, routes_.size());
  routes_.push_back(
      Route{std::move(method), std::move(pattern), std::move(names), std::move(value)});
}

template <typename T>
bool Router<T>::Offer(const std::vector<std::pair<std::string, size_t>>& entries, Search& s) const {
  if (entries.empty()) return false;
  if (s.method.empty()) {
    for (const auto& entry : entries) s.allowed.push_back(entry.first);
    return false;
  }
  size_t index = Lookup(entries, s.method);
  if (index == kNone && s.method == "HEAD") index = Lookup(entries, "GET");
  if (index == kNone) return false;
  s.found = index;
  return true;
}

template <typename T>
bool Router<T>::Visit(const Node& node, size_t depth, Search& s) const {
  const auto& segments = *s.segments;
  if (depth == segments.size()) return Offer(node.terminal, s);
  std::string_view seg = segments[depth];
  if (auto it = node.literals.find(seg); it != node.literals.end()) {
    if (Visit(*it->second, depth + 1, s)) return true;
  }
  if (node.param && !seg.empty()) {
    std::string decoded;
    if (detail::DecodePathSegment(seg, decoded)) {
      s.values.push_back(std::move(decoded));
      if (Visit(*node.param, depth + 1, s)) return true;
      s.values.pop_back();
    }
  }
  if (!node.rest.empty()) {
    // The catch-all takes the rest of the path, decoded segment by segment; "." and ".."
    // and empty segments are refused so a static-file handler cannot be walked out of
    // its directory.
    std::string joined;
    for (size_t i = depth; i < segments.size(); ++i) {
      std::string_view part = segments[i];
      if (part.empty() && i == depth && i + 1 == segments.size()) break;  // "/portal/"
      std::string decoded;
      if (part.empty() || part == "." || part == ".." ||
          !detail::DecodePathSegment(part, decoded) || decoded == "." || decoded == "..")
        return false;
      if (i > depth) joined.push_back('/');
      joined += decoded;
    }
    s.values.push_back(std::move(joined));
    if (Offer(node.rest, s)) return true;
    s.values.pop_back();
  }
  return false;
}

template <typename T>
typename Router<T>::Match Router<T>::Find(std::string_view method, std::string_view path) const {
  Match match;
  std::vector<std::string_view> segments;
  if (method.empty() || !detail::SplitPath(path, segments)) return match;
  Search search{&segments, method, {}, kNone, {}};
  if (Visit(*root_, 0, search)) {
    const Route& route = routes_[search.found];
    match.value = &route.value;
    match.pattern = route.pattern;
    match.params.reserve(route.param_names.size());
    for (size_t i = 0; i < route.param_names.size() && i < search.values.size(); ++i)
      match.params.emplace_back(route.param_names[i], std::move(search.values[i]));
    return match;
  }
  // Second walk, only on the miss path: which methods would this path accept?
  Search all{&segments, {}, {}, kNone, {}};
  Visit(*root_, 0, all);
  if (!all.allowed.empty()) {
    auto& allowed = all.allowed;
    if (std::find(allowed.begin(), allowed.end(), "GET") != allowed.end())
      allowed.emplace_back("HEAD");
    std::sort(allowed.begin(), allowed.end());
    allowed.erase(std::unique(allowed.begin(), allowed.end()), allowed.end());
    match.method_mismatch = true;
    match.allowed_methods = std::move(allowed);
  }
  return match;
}

template <typename T>
std::vector<std::pair<std::string, std::string>> Router<T>::Routes() const {
  std::vector<std::pair<std::string, std::string>> out;
  out.reserve(routes_.size());
  for (const auto& route : routes_) out.emplace_back(route.method, route.pattern);
  return out;
}

}  // namespace agentidp::http
