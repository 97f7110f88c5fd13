#pragma once

// One connection to Redis (a hiredis redisContext), used by one thread at a time. Connecting,
// every write and every read are bounded by the timeout given to Open(); after an I/O error
// or a timeout the connection is broken for good and must be dropped.

#include "cache/redis/redis_url.hpp"
#include "core/result.hpp"

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

struct redisContext;
struct redisReply;

namespace agentidp::cache::redis {

// A reply, copied out of hiredis.
struct Reply {
  enum class Kind { kNil, kInteger, kString, kStatus, kArray, kError };
  Kind kind = Kind::kNil;
  int64_t integer = 0;
  std::string text;  // string, status or error text
  std::vector<Reply> elements;

  bool IsError() const { return kind == Kind::kError; }
  bool IsNil() const { return kind == Kind::kNil; }
};

// A hiredis reply as a Reply (deep copy).
Reply CopyReply(const redisReply* reply);

class Connection {
 public:
  // Connects, authenticates (when the endpoint has a password) and selects the database.
  static core::Result<std::unique_ptr<Connection>> Open(const RedisEndpoint& endpoint,
                                                        std::chrono::milliseconds timeout);
  ~Connection();
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  // One round trip. An error reply is a Reply (kError), not an error; errors are I/O
  // failures and timeouts (Unavailable), after which broken() is true.
  core::Result<Reply> Command(const std::vector<std::string>& argv);
  // Several commands in one round trip; replies in order.
  core::Result<std::vector<Reply>> Pipeline(const std::vector<std::vector<std::string>>& commands);

  // For a subscriber: sends a command without waiting for its reply ...
  core::Status Send(const std::vector<std::string>& argv);
  // ... and waits up to `wait` for the next reply (nullopt when none arrived in time).
  core::Result<std::optional<Reply>> Receive(std::chrono::milliseconds wait);

  bool broken() const { return broken_; }
  // The last failure was the server closing the connection (not a timeout): a connection
  // that sat idle in a pool while Redis restarted looks like this.
  bool closed_by_peer() const { return closed_by_peer_; }

 private:
  explicit Connection(redisContext* context) : context_(context) {}
  core::Error Fail(const char* operation);
  core::Status Append(const std::vector<std::string>& argv);
  core::Status Flush();
  core::Result<Reply> Read();

  redisContext* context_;
  bool broken_ = false;
  bool closed_by_peer_ = false;
};

}  // namespace agentidp::cache::redis
