#pragma once

// Redis commands that do not block the calling thread: the reply arrives later, on the same
// thread, from its event loop. The implementation lives with the event loops (http/), one
// non-blocking connection per I/O thread; a request that needs one Redis round trip (the
// shared rate limit) then stays on its I/O thread instead of moving to the worker pool and
// blocking a worker on the network, and the commands of concurrent requests on one thread
// share writes and reads (pipelining).

#include "cache/redis/redis_connection.hpp"
#include "core/result.hpp"

#include <functional>
#include <string>
#include <vector>

namespace agentidp::cache::redis {

using ReplyCallback = std::function<void(core::Result<Reply>)>;

class AsyncCommands {
 public:
  virtual ~AsyncCommands() = default;
  // false: nothing was sent and `done` is dropped (the calling thread has no event loop, or
  // its connection is being torn down or in its reconnect back-off); use the blocking client.
  // true: `done` runs exactly once, later, on this thread, with the reply (error replies
  // included, as Reply::Kind::kError) or an error (Unavailable: I/O failure, timeout, closed).
  virtual bool Send(const std::vector<std::string>& argv, ReplyCallback done) = 0;
};

}  // namespace agentidp::cache::redis
