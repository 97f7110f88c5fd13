#pragma once

// Plain request/response structs: the only HTTP types the rest of the tree sees.
// Beast and Asio stay inside src/http/*.cpp (build time, DESIGN §2).

#include <functional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace agentidp::http {

struct Request {
  std::string method;  // upper case, e.g. "GET"
  std::string target;  // raw request-target as received
  std::string path;    // target up to '?', not percent-decoded
  std::string query;   // after '?', raw (may be empty)
  // Header names lower-cased; values as received. Repeated headers stay repeated.
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;
  std::string remote_ip;
  std::string request_id;  // from X-Request-Id if sane, else generated
  bool tls = false;
  // Filled by the router: {"agentId", "..."}.
  std::vector<std::pair<std::string, std::string>> path_params;

  // First value of a header (name lower-case), or empty.
  std::string_view Header(std::string_view name) const;
  size_t HeaderCount(std::string_view name) const;
  std::string_view PathParam(std::string_view name) const;
};

struct Response {
  int status = 200;
  std::string content_type = "application/json";
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;
  // Metric label for the route that answered ("/api/v1/agents/{agentId}"), set by the app.
  std::string route;

  void SetHeader(std::string name, std::string value);
};

// Completes a request. Must be called exactly once, from any thread.
using Responder = std::function<void(Response)>;

// What the server hands every parsed request to. Handle() is called on an I/O thread and
// must not block: work that may block goes to a worker pool (the app decides).
class Application {
 public:
  virtual ~Application() = default;
  virtual void Handle(Request req, Responder done) = 0;
};

}  // namespace agentidp::http
