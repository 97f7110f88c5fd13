#include "http/server.hpp"

#include "core/metrics.hpp"
#include "core/random.hpp"
#include "core/thread_pool.hpp"
#include "unit/http/raw_client.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <boost/json/parse.hpp>

#include <dirent.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <fstream>
#include <future>
#include <mutex>
#include <set>
#include <sstream>
#include <string>
#include <thread>

namespace agentidp::http {
namespace {

using ::agentidp::http::test_support::Get;
using ::agentidp::http::test_support::Post;
using ::agentidp::http::test_support::RawClient;
using ::agentidp::http::test_support::RawResponse;
using ::testing::HasSubstr;
using ::testing::Not;

class FnApp : public Application {
 public:
  std::function<void(Request, Responder)> fn = [](Request req, Responder done) {
    Response r;
    r.body = R"({"path":")" + req.path + "\"}";
    r.route = "/echo";
    done(std::move(r));
  };
  void Handle(Request req, Responder done) override {
    calls.fetch_add(1);
    fn(std::move(req), std::move(done));
  }
  std::atomic<int> calls{0};
};

boost::json::value JsonBody(const RawResponse& r) {
  return boost::json::parse(r.body);
}

class ServerTest : public ::testing::Test {
 protected:
  void StartServer(ServerOptions options = {}) {
    options.port = 0;
    options.io_threads = 2;
    server_ =
        std::make_unique<Server>(std::move(options), app_, metrics_, [this](std::string_view line) {
          std::lock_guard lock(log_mutex_);
          log_lines_.emplace_back(line);
        });
    auto port = server_->Start();
    ASSERT_TRUE(port.ok()) << port.error().message;
    port_ = *port;
    ASSERT_NE(port_, 0);
  }
  void TearDown() override {
    if (server_) server_->Stop(std::chrono::milliseconds(1000));
    server_.reset();
    for (auto& t : threads_) t.join();
  }
  std::vector<std::string> LogLines() {
    std::lock_guard lock(log_mutex_);
    return log_lines_;
  }

  FnApp app_;
  core::Metrics metrics_;
  std::unique_ptr<Server> server_;
  uint16_t port_ = 0;
  std::vector<std::thread> threads_;
  std::mutex log_mutex_;
  std::vector<std::string> log_lines_;
};

TEST_F(ServerTest, KeepAliveServesTwoRequestsOnOneConnection) {
  StartServer();
  RawClient c(port_);
  ASSERT_TRUE(c.Connected());
  ASSERT_TRUE(c.Send(Get("/first")));
  auto r1 = c.Read();
  ASSERT_TRUE(r1);
  EXPECT_EQ(r1->status, 200);
  EXPECT_EQ(r1->body, R"({"path":"/first"})");
  EXPECT_EQ(r1->Header("content-type"), "application/json");
  EXPECT_EQ(r1->Header("content-length"), std::to_string(r1->body.size()));
  EXPECT_EQ(r1->Header("server"), "agentidp");
  EXPECT_FALSE(r1->HasHeader("connection"));  // HTTP/1.1 keep-alive is the default
  ASSERT_TRUE(c.Send(Get("/second")));
  auto r2 = c.Read();
  ASSERT_TRUE(r2);
  EXPECT_EQ(r2->body, R"({"path":"/second"})");
  EXPECT_EQ(app_.calls.load(), 2);
  EXPECT_EQ(server_->ActiveConnections(), 1u);
}

TEST_F(ServerTest, PipelinedRequestsAreAnsweredInOrder) {
  StartServer();
  RawClient c(port_);
  ASSERT_TRUE(c.Send(Get("/a") + Get("/b") + Get("/c")));
  for (const char* path : {"/a", "/b", "/c"}) {
    auto r = c.Read();
    ASSERT_TRUE(r);
    EXPECT_EQ(r->body, std::string(R"({"path":")") + path + "\"}");
  }
}

TEST_F(ServerTest, FillsTheRequest) {
  Request seen;
  app_.fn = [&](Request req, Responder done) {
    seen = std::move(req);
    done(Response{});
  };
  StartServer();
  RawClient c(port_);
  ASSERT_TRUE(c.Send(Post("/api/v1/things?x=1&y=%20", R"({"a":1})",
                          "X-Custom: one\r\nx-custom: two\r\nUser-Agent: t/1\r\n")));
  auto r = c.Read();
  ASSERT_TRUE(r);
  EXPECT_EQ(seen.method, "POST");
  EXPECT_EQ(seen.target, "/api/v1/things?x=1&y=%20");
  EXPECT_EQ(seen.path, "/api/v1/things");
  EXPECT_EQ(seen.query, "x=1&y=%20");
  EXPECT_EQ(seen.body, R"({"a":1})");
  EXPECT_EQ(seen.remote_ip, "127.0.0.1");
  EXPECT_FALSE(seen.tls);
  EXPECT_EQ(seen.HeaderCount("x-custom"), 2u);
  EXPECT_EQ(seen.Header("x-custom"), "one");
  EXPECT_EQ(seen.Header("user-agent"), "t/1");
  EXPECT_EQ(seen.Header("content-type"), "application/json");
  EXPECT_TRUE(core::IsUuid(seen.request_id));
}

TEST_F(ServerTest, AbsoluteFormTargetIsSplit) {
  Request seen;
  app_.fn = [&](Request req, Responder done) {
    seen = std::move(req);
    done(Response{});
  };
  StartServer();
  RawClient c(port_);
  ASSERT_TRUE(c.Send("GET http://localhost/health?deep=1 HTTP/1.1\r\nHost: localhost\r\n\r\n"));
  ASSERT_TRUE(c.Read());
  EXPECT_EQ(seen.path, "/health");
  EXPECT_EQ(seen.query, "deep=1");
}

TEST_F(ServerTest, PayloadTooLargeAnswers413AndCloses) {
  StartServer();
  RawClient c(port_);
  std::string body(70 * 1024, 'x');
  c.Send(Post("/upload", body));  // the server may stop reading early
  auto r = c.Read();
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 413);
  auto json = JsonBody(*r);
  EXPECT_EQ(json.at("code"), "PAYLOAD_TOO_LARGE");
  EXPECT_TRUE(json.at("message").is_string());
  EXPECT_EQ(r->Header("connection"), "close");
  EXPECT_FALSE(r->Header("x-request-id").empty());
  EXPECT_EQ(app_.calls.load(), 0);
  EXPECT_TRUE(c.WaitClosed());
}

TEST_F(ServerTest, ChunkedBodyOverTheLimitAnswers413) {
  StartServer();
  RawClient c(port_);
  std::string chunk(16 * 1024, 'y');
  std::string req =
      "POST /upload HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding: chunked\r\n\r\n";
  for (int i = 0; i < 5; ++i) req += "4000\r\n" + chunk + "\r\n";
  req += "0\r\n\r\n";
  c.Send(req);
  auto r = c.Read();
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 413);
  EXPECT_EQ(JsonBody(*r).at("code"), "PAYLOAD_TOO_LARGE");
  EXPECT_EQ(app_.calls.load(), 0);
}

TEST_F(ServerTest, BodyExactlyAtTheLimitIsAccepted) {
  std::string seen_body;
  app_.fn = [&](Request req, Responder done) {
    seen_body = std::move(req.body);
    done(Response{});
  };
  StartServer();
  RawClient c(port_);
  std::string body(64 * 1024, 'z');
  ASSERT_TRUE(c.Send(Post("/upload", body)));
  auto r = c.Read();
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(seen_body, body);
}

TEST_F(ServerTest, ExpectContinueGetsInterimResponse) {
  StartServer();
  RawClient c(port_);
  ASSERT_TRUE(c.Send(
      "POST /x HTTP/1.1\r\nHost: localhost\r\nContent-Length: 2\r\nExpect: 100-continue\r\n\r\n"));
  // The body is sent only after the interim answer, as curl does.
  char tmp[64];
  ssize_t n = ::recv(c.Fd(), tmp, sizeof tmp, 0);
  ASSERT_GT(n, 0);
  EXPECT_THAT(std::string(tmp, static_cast<size_t>(n)), HasSubstr("100 Continue"));
  ASSERT_TRUE(c.Send("{}"));
  auto r = c.Read();
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
}

TEST_F(ServerTest, EchoesASaneRequestId) {
  std::string seen_id;
  app_.fn = [&](Request req, Responder done) {
    seen_id = req.request_id;
    done(Response{});
  };
  StartServer();
  RawClient c(port_);
  ASSERT_TRUE(c.Send(Get("/x", "X-Request-Id: abc-123_x.y:z\r\n")));
  auto r = c.Read();
  ASSERT_TRUE(r);
  EXPECT_EQ(r->Header("x-request-id"), "abc-123_x.y:z");
  EXPECT_EQ(seen_id, "abc-123_x.y:z");
}

TEST_F(ServerTest, GeneratesARequestIdWhenMissingOrUnsafe) {
  StartServer();
  RawClient c(port_);
  ASSERT_TRUE(c.Send(Get("/x")));
  auto r1 = c.Read();
  ASSERT_TRUE(r1);
  EXPECT_TRUE(core::IsUuid(r1->Header("x-request-id"))) << r1->Header("x-request-id");

  ASSERT_TRUE(c.Send(Get("/x", "X-Request-Id: has space<script>\r\n")));
  auto r2 = c.Read();
  ASSERT_TRUE(r2);
  EXPECT_TRUE(core::IsUuid(r2->Header("x-request-id"))) << r2->Header("x-request-id");

  ASSERT_TRUE(c.Send(Get("/x", "X-Request-Id: " + std::string(129, 'a') + "\r\n")));
  auto r3 = c.Read();
  ASSERT_TRUE(r3);
  EXPECT_TRUE(core::IsUuid(r3->Header("x-request-id")));
  EXPECT_NE(r1->Header("x-request-id"), r3->Header("x-request-id"));
}

TEST_F(ServerTest, ResponderMayBeCalledFromAnotherThread) {
  std::thread::id handle_thread, respond_thread;
  app_.fn = [&](Request req, Responder done) {
    handle_thread = std::this_thread::get_id();
    threads_.emplace_back([&, done = std::move(done), path = req.path]() mutable {
      respond_thread = std::this_thread::get_id();
      Response r;
      r.status = 201;
      r.body = "{\"from\":\"worker\"}";
      r.SetHeader("Location", path + "/1");
      done(std::move(r));
    });
  };
  StartServer();
  RawClient c(port_);
  ASSERT_TRUE(c.Send(Get("/items")));
  auto r = c.Read();
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 201);
  EXPECT_EQ(r->body, "{\"from\":\"worker\"}");
  EXPECT_EQ(r->Header("location"), "/items/1");
  EXPECT_NE(handle_thread, respond_thread);
  // The connection is still usable afterwards.
  app_.fn = [](Request, Responder done) { done(Response{}); };
  ASSERT_TRUE(c.Send(Get("/again")));
  auto r2 = c.Read();
  ASSERT_TRUE(r2);
  EXPECT_EQ(r2->status, 200);
}

TEST_F(ServerTest, SecondResponderCallIsIgnored) {
  app_.fn = [](Request, Responder done) {
    Response a;
    a.status = 202;
    done(a);
    Response b;
    b.status = 500;
    done(b);
  };
  StartServer();
  RawClient c(port_);
  ASSERT_TRUE(c.Send(Get("/x") + Get("/y")));
  auto r1 = c.Read();
  auto r2 = c.Read();
  ASSERT_TRUE(r1 && r2);
  EXPECT_EQ(r1->status, 202);
  EXPECT_EQ(r2->status, 202);
}

TEST_F(ServerTest, DroppedResponderAnswers500) {
  app_.fn = [](Request, Responder) {};  // drops the responder unanswered
  StartServer();
  RawClient c(port_);
  ASSERT_TRUE(c.Send(Get("/x")));
  auto r = c.Read();
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 500);
  EXPECT_EQ(JsonBody(*r).at("code"), "INTERNAL_ERROR");
}

TEST_F(ServerTest, ThrowingHandlerAnswers500WithoutInternals) {
  app_.fn = [](Request, Responder) { throw std::runtime_error("db password is hunter2"); };
  StartServer();
  RawClient c(port_);
  ASSERT_TRUE(c.Send(Get("/x")));
  auto r = c.Read();
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 500);
  EXPECT_EQ(r->body, R"({"code":"INTERNAL_ERROR","message":"Internal server error"})");
  EXPECT_THAT(r->body, Not(HasSubstr("hunter2")));
  // The connection survives a handler exception.
  app_.fn = [](Request, Responder done) { done(Response{}); };
  ASSERT_TRUE(c.Send(Get("/y")));
  auto r2 = c.Read();
  ASSERT_TRUE(r2);
  EXPECT_EQ(r2->status, 200);
}

TEST_F(ServerTest, MalformedRequestAnswers400AndCloses) {
  StartServer();
  RawClient c(port_);
  ASSERT_TRUE(c.Send("GET /x HTTP/1.1\r\nHost: localhost\r\nBad Header\r\n\r\n"));
  auto r = c.Read();
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 400);
  EXPECT_EQ(r->body, R"({"code":"VALIDATION_ERROR","message":"Malformed HTTP request"})");
  EXPECT_EQ(r->Header("connection"), "close");
  EXPECT_TRUE(c.WaitClosed());
  EXPECT_EQ(app_.calls.load(), 0);
}

TEST_F(ServerTest, Http11WithoutHostAnswers400) {
  StartServer();
  RawClient c(port_);
  ASSERT_TRUE(c.Send("GET /x HTTP/1.1\r\n\r\n"));
  auto r = c.Read();
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 400);
  EXPECT_EQ(app_.calls.load(), 0);
}

TEST_F(ServerTest, OversizedHeadersAnswer431) {
  ServerOptions options;
  options.max_header_bytes = 1024;
  StartServer(options);
  RawClient c(port_);
  c.Send(Get("/x", "X-Big: " + std::string(2000, 'h') + "\r\n"));
  auto r = c.Read();
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 431);
  EXPECT_EQ(app_.calls.load(), 0);
}

TEST_F(ServerTest, Http10ClosesAfterTheResponse) {
  StartServer();
  RawClient c(port_);
  ASSERT_TRUE(c.Send("GET /old HTTP/1.0\r\n\r\n"));
  auto r = c.Read();
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(r->Header("connection"), "close");
  EXPECT_TRUE(c.WaitClosed());
}

TEST_F(ServerTest, Http10KeepAliveIsHonoured) {
  StartServer();
  RawClient c(port_);
  ASSERT_TRUE(c.Send("GET /a HTTP/1.0\r\nConnection: keep-alive\r\n\r\n"));
  auto r1 = c.Read();
  ASSERT_TRUE(r1);
  EXPECT_EQ(r1->Header("connection"), "keep-alive");
  ASSERT_TRUE(c.Send("GET /b HTTP/1.0\r\n\r\n"));
  auto r2 = c.Read();
  ASSERT_TRUE(r2);
  EXPECT_EQ(r2->body, R"({"path":"/b"})");
}

TEST_F(ServerTest, ConnectionCloseRequestIsHonoured) {
  StartServer();
  RawClient c(port_);
  ASSERT_TRUE(c.Send(Get("/x", "Connection: close\r\n")));
  auto r = c.Read();
  ASSERT_TRUE(r);
  EXPECT_EQ(r->Header("connection"), "close");
  EXPECT_TRUE(c.WaitClosed());
}

TEST_F(ServerTest, HeadResponseHasLengthButNoBody) {
  app_.fn = [](Request, Responder done) {
    Response r;
    r.body = "0123456789";
    done(std::move(r));
  };
  StartServer();
  RawClient c(port_);
  ASSERT_TRUE(c.Send("HEAD /x HTTP/1.1\r\nHost: localhost\r\n\r\n"));
  auto r = c.Read(/*head_request=*/true);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->Header("content-length"), "10");
  // If a body had been sent, it would now be read as the next response.
  ASSERT_TRUE(c.Send(Get("/y")));
  auto r2 = c.Read();
  ASSERT_TRUE(r2);
  EXPECT_EQ(r2->status, 200);
  EXPECT_EQ(r2->body, "0123456789");
}

TEST_F(ServerTest, NoContentHasNoBodyOrLength) {
  app_.fn = [](Request, Responder done) {
    Response r;
    r.status = 204;
    r.body = "ignored";
    done(std::move(r));
  };
  StartServer();
  RawClient c(port_);
  ASSERT_TRUE(c.Send(Get("/x") + Get("/y")));
  auto r1 = c.Read();
  auto r2 = c.Read();
  ASSERT_TRUE(r1 && r2);
  EXPECT_EQ(r1->status, 204);
  EXPECT_FALSE(r1->HasHeader("content-length"));
  EXPECT_EQ(r2->status, 204);
}

TEST_F(ServerTest, UnsafeApplicationHeadersAreDropped) {
  app_.fn = [](Request, Responder done) {
    Response r;
    r.headers.emplace_back("X-Evil", "a\r\nSet-Cookie: pwned=1");
    r.headers.emplace_back("Content-Length", "999");
    r.headers.emplace_back("X-Request-Id", "spoofed");
    r.headers.emplace_back("Cache-Control", "no-store");
    r.body = "{}";
    done(std::move(r));
  };
  StartServer();
  RawClient c(port_);
  ASSERT_TRUE(c.Send(Get("/x")));
  auto r = c.Read();
  ASSERT_TRUE(r);
  EXPECT_FALSE(r->HasHeader("x-evil"));
  EXPECT_FALSE(r->HasHeader("set-cookie"));
  EXPECT_EQ(r->Header("content-length"), "2");
  EXPECT_NE(r->Header("x-request-id"), "spoofed");
  EXPECT_EQ(r->Header("cache-control"), "no-store");
}

TEST_F(ServerTest, OverTheConnectionLimitAnswers503WithRetryAfter) {
  ServerOptions options;
  options.max_connections = 1;
  StartServer(options);
  RawClient first(port_);
  ASSERT_TRUE(first.Send(Get("/x")));
  ASSERT_TRUE(first.Read());  // the first connection is accepted and counted
  RawClient second(port_);
  auto r = second.Read();
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 503);
  EXPECT_EQ(r->Header("retry-after"), "1");
  EXPECT_EQ(r->Header("connection"), "close");
  EXPECT_EQ(JsonBody(*r).at("code"), "SERVICE_UNAVAILABLE");
  EXPECT_TRUE(second.WaitClosed());
  EXPECT_THAT(metrics_.RenderPrometheus(),
              HasSubstr("agentidp_http_connections_rejected_total 1\n"));
  // The first connection still works.
  ASSERT_TRUE(first.Send(Get("/y")));
  auto again = first.Read();
  ASSERT_TRUE(again);
  EXPECT_EQ(again->status, 200);
}

TEST_F(ServerTest, HeaderTimeoutClosesASilentConnection) {
  ServerOptions options;
  options.header_timeout_ms = 100;
  StartServer(options);
  RawClient c(port_);
  ASSERT_TRUE(c.Connected());
  EXPECT_TRUE(c.WaitClosed());  // well before the client's own 5 s read timeout
}

TEST_F(ServerTest, IdleTimeoutClosesAKeepAliveConnection) {
  ServerOptions options;
  options.idle_timeout_ms = 100;
  StartServer(options);
  RawClient c(port_);
  ASSERT_TRUE(c.Send(Get("/x")));
  ASSERT_TRUE(c.Read());
  EXPECT_TRUE(c.WaitClosed());
}

TEST_F(ServerTest, RecordsMetricsPerRoute) {
  app_.fn = [](Request req, Responder done) {
    Response r;
    r.status = req.path == "/missing" ? 404 : 200;
    if (req.path != "/missing") r.route = "/things/{id}";
    done(std::move(r));
  };
  StartServer();
  RawClient c(port_);
  for (const char* path : {"/things/1", "/things/2", "/missing"}) {
    ASSERT_TRUE(c.Send(Get(path)));
    ASSERT_TRUE(c.Read());
  }
  std::string text = metrics_.RenderPrometheus();
  EXPECT_THAT(text, HasSubstr("# TYPE agentidp_http_requests_total counter\n"));
  EXPECT_THAT(
      text,
      HasSubstr(
          R"(agentidp_http_requests_total{method="GET",route="/things/{id}",status="2xx"} 2)"));
  EXPECT_THAT(
      text,
      HasSubstr(R"(agentidp_http_requests_total{method="GET",route="unmatched",status="4xx"} 1)"));
  EXPECT_THAT(
      text,
      HasSubstr(
          R"(agentidp_http_request_duration_seconds_count{method="GET",route="/things/{id}"} 2)"));
  EXPECT_THAT(
      text,
      HasSubstr(
          R"(agentidp_http_request_duration_seconds_bucket{method="GET",route="/things/{id}",le="+Inf"} 2)"));
}

TEST_F(ServerTest, UnknownMethodsShareOneMetricLabel) {
  StartServer();
  RawClient c(port_);
  ASSERT_TRUE(c.Send("BREW /pot HTTP/1.1\r\nHost: localhost\r\n\r\n"));
  ASSERT_TRUE(c.Read());
  std::string text = metrics_.RenderPrometheus();
  EXPECT_THAT(text, HasSubstr(R"(method="OTHER")"));
  EXPECT_THAT(text, Not(HasSubstr("BREW")));
}

TEST_F(ServerTest, AccessLogHasOneJsonLinePerRequestWithoutQuery) {
  StartServer();
  RawClient c(port_);
  ASSERT_TRUE(c.Send(Get("/token?client_secret=sk_live_hunter2",
                         "User-Agent: probe/2\r\nX-Request-Id: log-1\r\n"
                         "Authorization: Bearer eyJsecret\r\n")));
  ASSERT_TRUE(c.Read());
  ASSERT_TRUE(c.Send(Get("/second")));
  ASSERT_TRUE(c.Read());
  auto lines = LogLines();
  ASSERT_EQ(lines.size(), 2u);
  EXPECT_THAT(lines[0], Not(HasSubstr("hunter2")));
  EXPECT_THAT(lines[0], Not(HasSubstr("eyJsecret")));
  EXPECT_THAT(lines[0], Not(HasSubstr("\n")));
  auto json = boost::json::parse(lines[0]).as_object();
  EXPECT_EQ(json.at("path"), "/token");
  EXPECT_EQ(json.at("method"), "GET");
  EXPECT_EQ(json.at("status"), 200);
  EXPECT_EQ(json.at("request_id"), "log-1");
  EXPECT_EQ(json.at("remote_ip"), "127.0.0.1");
  EXPECT_EQ(json.at("route"), "/echo");
  EXPECT_EQ(json.at("user_agent"), "probe/2");
  EXPECT_EQ(json.at("bytes"), std::string(R"({"path":"/token"})").size());
  EXPECT_TRUE(json.at("duration_ms").is_double());
  std::string ts(json.at("ts").as_string());
  EXPECT_EQ(ts.size(), 24u) << ts;  // 2026-03-28T09:00:00.000Z
  EXPECT_EQ(ts.back(), 'Z');
}

TEST_F(ServerTest, ErrorAnswersAreLoggedAndCounted) {
  StartServer();
  RawClient c(port_);
  c.Send(Post("/upload?k=v", std::string(70 * 1024, 'x')));
  auto r = c.Read();
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 413);
  c.WaitClosed();
  auto lines = LogLines();
  ASSERT_EQ(lines.size(), 1u);
  auto json = boost::json::parse(lines[0]).as_object();
  EXPECT_EQ(json.at("status"), 413);
  EXPECT_EQ(json.at("path"), "/upload");
  EXPECT_EQ(json.at("route"), "unmatched");
  EXPECT_THAT(
      metrics_.RenderPrometheus(),
      HasSubstr(R"(agentidp_http_requests_total{method="POST",route="unmatched",status="4xx"} 1)"));
}

// Whether this process holds a listening TCP socket on `port` (IPv4 or IPv6): the sockets
// listening there (/proc/net/tcp*, state 0A) against this process's descriptors. Unlike a
// connection attempt, it cannot be fooled by another process binding the port meanwhile.
bool ThisProcessListensOn(int port) {
  std::set<std::string> inodes;
  for (const char* table : {"/proc/net/tcp", "/proc/net/tcp6"}) {
    std::ifstream in(table);
    std::string line;
    std::getline(in, line);  // header
    while (std::getline(in, line)) {
      std::istringstream fields(line);
      std::string slot, local, remote, state, queues, timer, retransmits, uid, timeout, inode;
      fields >> slot >> local >> remote >> state >> queues >> timer >> retransmits >> uid >>
          timeout >> inode;
      const auto colon = local.rfind(':');
      if (state == "0A" && colon != std::string::npos &&
          std::stoi(local.substr(colon + 1), nullptr, 16) == port)
        inodes.insert(inode);
    }
  }
  DIR* dir = opendir("/proc/self/fd");
  if (dir == nullptr) return false;
  bool found = false;
  while (dirent* entry = readdir(dir)) {
    char target[64] = {};
    const std::string link = std::string("/proc/self/fd/") + entry->d_name;
    const ssize_t n = readlink(link.c_str(), target, sizeof target - 1);
    const std::string t(target, n > 0 ? static_cast<size_t>(n) : 0);
    if (t.starts_with("socket:[") && inodes.count(t.substr(8, t.size() - 9)) > 0) found = true;
  }
  closedir(dir);
  return found;
}

TEST_F(ServerTest, StopClosesIdleConnectionsAndReturns) {
  StartServer();
  ASSERT_TRUE(ThisProcessListensOn(port_)) << "the check below sees a listener";
  RawClient c(port_);
  ASSERT_TRUE(c.Send(Get("/x")));
  ASSERT_TRUE(c.Read());
  auto begin = std::chrono::steady_clock::now();
  server_->Stop(std::chrono::seconds(10));
  // Idle keep-alive connections do not hold Stop() for the grace period.
  EXPECT_LT(std::chrono::steady_clock::now() - begin, std::chrono::seconds(5));
  EXPECT_TRUE(c.WaitClosed());
  server_->Wait();  // returns once stopped
  // The listener is closed. (Not checked by connecting: another process of the parallel test
  // run may bind the freed port meanwhile.)
  EXPECT_FALSE(ThisProcessListensOn(port_));
}

TEST_F(ServerTest, StopLetsAnInFlightRequestFinish) {
  std::promise<Responder> handed;
  app_.fn = [&](Request, Responder done) { handed.set_value(std::move(done)); };
  StartServer();
  RawClient c(port_);
  ASSERT_TRUE(c.Send(Get("/slow")));
  Responder done = handed.get_future().get();
  auto stopped = std::async(std::launch::async, [&] { server_->Stop(std::chrono::seconds(10)); });
  // Stop() has begun once the listener refuses new connections.
  for (int i = 0; i < 500; ++i) {
    RawClient probe(port_, 100);
    if (!probe.Connected()) break;
    std::this_thread::yield();
  }
  Response late;
  late.body = "{\"done\":true}";
  done(std::move(late));
  auto r = c.Read();
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(r->body, "{\"done\":true}");
  EXPECT_EQ(r->Header("connection"), "close");
  EXPECT_EQ(stopped.wait_for(std::chrono::seconds(5)), std::future_status::ready);
  EXPECT_TRUE(c.WaitClosed());
}

TEST_F(ServerTest, StopForceClosesAfterTheGraceAndLateRespondersAreHarmless) {
  std::promise<Responder> handed;
  app_.fn = [&](Request, Responder done) { handed.set_value(std::move(done)); };
  StartServer();
  RawClient c(port_);
  ASSERT_TRUE(c.Send(Get("/never")));
  Responder done = handed.get_future().get();
  server_->Stop(std::chrono::milliseconds(50));
  EXPECT_TRUE(c.WaitClosed());
  server_.reset();   // the io_context is gone
  done(Response{});  // must not touch it
  Responder copy = done;
  copy(Response{});
}

TEST_F(ServerTest, ResponderDroppedAfterServerDestructionIsHarmless) {
  std::promise<Responder> handed;
  app_.fn = [&](Request, Responder done) { handed.set_value(std::move(done)); };
  StartServer();
  RawClient c(port_);
  ASSERT_TRUE(c.Send(Get("/never")));
  {
    Responder done = handed.get_future().get();
    server_.reset();  // ~Server stops with no grace
  }                   // the guard's 500 goes nowhere
  EXPECT_TRUE(c.WaitClosed());
}

TEST(ServerStartTest, PortInUseFailsWithoutThrowing) {
  FnApp app;
  core::Metrics metrics;
  ServerOptions options;
  options.port = 0;
  options.io_threads = 1;
  Server first(options, app, metrics);
  auto port = first.Start();
  ASSERT_TRUE(port.ok());
  options.port = *port;
  Server second(options, app, metrics);
  auto again = second.Start();
  ASSERT_FALSE(again.ok());
  EXPECT_THAT(again.error().message, HasSubstr("bind"));
  first.Stop(std::chrono::milliseconds(100));
}

TEST(ServerStartTest, BadBindAddressFails) {
  FnApp app;
  core::Metrics metrics;
  ServerOptions options;
  options.bind_address = "192.0.2.1";  // TEST-NET-1: numeric, never a local address
  options.port = 0;
  Server server(options, app, metrics);
  auto r = server.Start();
  ASSERT_FALSE(r.ok());
  EXPECT_THAT(r.error().message, HasSubstr("bind"));
  server.Wait();  // never started: returns at once
}

TEST(ServerStartTest, TlsNeedsBothFiles) {
  FnApp app;
  core::Metrics metrics;
  ServerOptions options;
  options.port = 0;
  options.tls_cert_file = "/nonexistent/cert.pem";
  Server server(options, app, metrics);
  auto r = server.Start();
  ASSERT_FALSE(r.ok());
  EXPECT_THAT(r.error().message, HasSubstr("TLS"));
}

}  // namespace
}  // namespace agentidp::http

namespace agentidp::http {
namespace {

TEST_F(ServerTest, ConflictingFramingHeadersAnswer400) {
  StartServer();
  {
    RawClient c(port_);
    ASSERT_TRUE(
        c.Send("POST /x HTTP/1.1\r\nHost: localhost\r\nContent-Length: 5\r\n"
               "Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n"));
    auto r = c.Read();
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 400);
  }
  {
    RawClient c(port_);
    ASSERT_TRUE(c.Send(
        "POST /x HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding: gzip\r\n\r\nGET /smuggled "
        "HTTP/1.1\r\nHost: localhost\r\n\r\n"));
    auto r = c.Read();
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 400);
    EXPECT_TRUE(c.WaitClosed());
  }
  {
    RawClient c(port_);
    ASSERT_TRUE(
        c.Send("POST /x HTTP/1.1\r\nHost: localhost\r\nContent-Length: 1\r\n"
               "Content-Length: 2\r\n\r\nab"));
    auto r = c.Read();
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 400);
  }
  EXPECT_EQ(app_.calls.load(), 0);
}

TEST_F(ServerTest, MethodIsPassedAsReceived) {
  std::string seen;
  app_.fn = [&](Request req, Responder done) {
    seen = req.method;
    done(Response{});
  };
  StartServer();
  RawClient c(port_);
  ASSERT_TRUE(c.Send("PATCH /x HTTP/1.1\r\nHost: localhost\r\nContent-Length: 0\r\n\r\n"));
  ASSERT_TRUE(c.Read());
  EXPECT_EQ(seen, "PATCH");
}

// Many keep-alive clients at once, half answered on a worker pool: every response must
// belong to its request.
TEST_F(ServerTest, ConcurrentClientsGetTheirOwnResponses) {
  core::ThreadPool pool(3, 10000, "workers");
  app_.fn = [&](Request req, Responder done) {
    auto respond = [path = req.path, done = std::move(done)]() mutable {
      Response r;
      r.body = path;
      done(std::move(r));
    };
    if (req.path.back() % 2 == 0) {
      respond();
    } else {
      ASSERT_TRUE(pool.TrySubmit(std::move(respond)));
    }
  };
  StartServer();
  constexpr int kClients = 8, kRequests = 100;
  std::atomic<int> correct{0};
  std::vector<std::thread> clients;
  for (int t = 0; t < kClients; ++t) {
    clients.emplace_back([&, t] {
      RawClient c(port_);
      for (int i = 0; i < kRequests; ++i) {
        std::string path = "/c" + std::to_string(t) + "/r" + std::to_string(i);
        if (!c.Send(Get(path))) return;
        auto r = c.Read();
        if (r && r->status == 200 && r->body == path) correct++;
      }
    });
  }
  for (auto& t : clients) t.join();
  EXPECT_EQ(correct.load(), kClients * kRequests);
  pool.Shutdown();
}

// Stop() while clients keep sending and workers keep answering: Stop returns, no
// response is corrupted, and nothing crashes (run under ASan/TSan in CI).
TEST_F(ServerTest, StopUnderLoadIsClean) {
  core::ThreadPool pool(2, 10000, "workers");
  app_.fn = [&](Request req, Responder done) {
    pool.TrySubmit([path = req.path, done = std::move(done)]() mutable {
      Response r;
      r.body = path;
      done(std::move(r));
    });
  };
  StartServer();
  std::atomic<bool> wrong{false};
  std::atomic<int> answered{0};
  std::vector<std::thread> clients;
  for (int t = 0; t < 6; ++t) {
    clients.emplace_back([&, t] {
      RawClient c(port_, 2000);
      for (int i = 0; i < 1000; ++i) {
        std::string path = "/s" + std::to_string(t) + "/" + std::to_string(i);
        if (!c.Send(Get(path))) return;
        auto r = c.Read();
        if (!r) return;  // closed by Stop()
        if (r->body != path) wrong = true;
        answered++;
      }
    });
  }
  while (answered.load() < 50) std::this_thread::yield();
  auto begin = std::chrono::steady_clock::now();
  server_->Stop(std::chrono::seconds(2));
  EXPECT_LT(std::chrono::steady_clock::now() - begin, std::chrono::seconds(5));
  for (auto& t : clients) t.join();
  pool.Shutdown();  // late responders run after the server stopped
  server_.reset();
  EXPECT_FALSE(wrong.load());
}

}  // namespace
}  // namespace agentidp::http
