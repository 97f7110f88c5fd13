#pragma once

// Helpers for the tests that need a real Redis: the server named by AGENTIDP_TEST_REDIS_URL
// (scripts/with-services.sh starts a throw-away one), a fresh key prefix per test (tests run
// in parallel against one server), and a raw client to look at what the code wrote.

#include "cache/redis/redis_client.hpp"
#include "cache/redis/redis_url.hpp"

#include <gtest/gtest.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <functional>
#include <optional>
#include <random>
#include <string>
#include <thread>
#include <vector>

namespace agentidp::cache::redis {

// The base URL, or nullopt when no Redis server is configured for the tests.
inline std::optional<std::string> RedisTestUrl() {
  const char* url = std::getenv("AGENTIDP_TEST_REDIS_URL");
  if (url == nullptr || *url == '\0') return std::nullopt;
  return std::string(url);
}

inline std::vector<std::string> RedisUrls() {
  auto url = RedisTestUrl();
  if (!url) return {};
  return {*url};
}

inline std::string UniquePrefix() {
  static thread_local std::mt19937_64 random{std::random_device{}()};
  char hex[17];
  std::snprintf(hex, sizeof hex, "%016llx", static_cast<unsigned long long>(random()));
  return std::string("agentidp-test:") + hex + ":";
}

// Options for `url`, optionally pointed at another port (a proxy in front of the server).
inline RedisOptions TestOptions(const std::string& url, const std::string& prefix, int port = 0) {
  auto endpoint = ParseRedisUrl(url);
  EXPECT_TRUE(endpoint.ok()) << endpoint.error().message;
  RedisOptions o;
  o.endpoint = *endpoint;
  if (port != 0) {
    o.endpoint.host = "127.0.0.1";
    o.endpoint.port = port;
  }
  o.key_prefix = prefix;
  o.timeout = std::chrono::milliseconds(300);
  o.reconnect_backoff = std::chrono::milliseconds(100);
  o.pool_size = 4;
  return o;
}

// A loopback server that accepts connections (the kernel completes the handshake into the
// backlog) and never answers: what a hung Redis looks like to a client.
class SilentServer {
 public:
  SilentServer() {
    fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (fd_ < 0 || ::bind(fd_, reinterpret_cast<sockaddr*>(&address), sizeof address) != 0 ||
        ::listen(fd_, 16) != 0)
      return;
    socklen_t length = sizeof address;
    if (::getsockname(fd_, reinterpret_cast<sockaddr*>(&address), &length) == 0)
      port_ = ntohs(address.sin_port);
  }
  ~SilentServer() {
    if (fd_ >= 0) ::close(fd_);
  }
  SilentServer(const SilentServer&) = delete;
  SilentServer& operator=(const SilentServer&) = delete;
  int port() const { return port_; }  // 0 when the server could not be set up

 private:
  int fd_ = -1;
  int port_ = 0;
};

// Polls `done` until it holds or `limit` passes (a functional wait, not a timing check).
inline bool WaitFor(const std::function<bool()>& done,
                    std::chrono::milliseconds limit = std::chrono::seconds(10)) {
  const auto deadline = std::chrono::steady_clock::now() + limit;
  while (std::chrono::steady_clock::now() < deadline) {
    if (done()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return done();
}

class RedisTest : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override { raw_ = std::make_unique<Client>(TestOptions(GetParam(), prefix_)); }
  void TearDown() override {
    // Everything this test wrote.
    auto keys = raw_->Command({"KEYS", prefix_ + "*"});
    if (keys.ok())
      for (const auto& k : keys->elements) (void)raw_->Command({"DEL", k.text});
  }
  RedisOptions Options(int port = 0) const { return TestOptions(GetParam(), prefix_, port); }
  int ServerPort() const { return TestOptions(GetParam(), prefix_).endpoint.port; }
  Reply Raw(const std::vector<std::string>& argv) {
    auto r = raw_->Command(argv);
    EXPECT_TRUE(r.ok()) << r.error().message;
    return r.ok() ? *r : Reply{};
  }

  const std::string prefix_ = UniquePrefix();
  std::unique_ptr<Client> raw_;
};

}  // namespace agentidp::cache::redis
