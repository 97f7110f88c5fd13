#include "cache/redis/redis_connection.hpp"

#include <hiredis/hiredis.h>
#include <poll.h>

#include <cerrno>
#include <cstring>

namespace agentidp::cache::redis {

Reply CopyReply(const redisReply* r) {
  Reply out;
  switch (r->type) {
    case REDIS_REPLY_STRING:
      out.kind = Reply::Kind::kString;
      out.text.assign(r->str, r->len);
      break;
    case REDIS_REPLY_STATUS:
      out.kind = Reply::Kind::kStatus;
      out.text.assign(r->str, r->len);
      break;
    case REDIS_REPLY_ERROR:
      out.kind = Reply::Kind::kError;
      out.text.assign(r->str, r->len);
      break;
    case REDIS_REPLY_INTEGER:
      out.kind = Reply::Kind::kInteger;
      out.integer = r->integer;
      break;
    case REDIS_REPLY_ARRAY:
      out.kind = Reply::Kind::kArray;
      out.elements.reserve(r->elements);
      for (size_t i = 0; i < r->elements; ++i) out.elements.push_back(CopyReply(r->element[i]));
      break;
    default:
      out.kind = Reply::Kind::kNil;
  }
  return out;
}

namespace {

timeval ToTimeval(std::chrono::milliseconds ms) {
  timeval tv{};
  tv.tv_sec = static_cast<time_t>(ms.count() / 1000);
  tv.tv_usec = static_cast<suseconds_t>((ms.count() % 1000) * 1000);
  return tv;
}

core::Error Unavailable(const std::string& detail) {
  return core::Error::Unavailable("redis: " + detail, 1);
}

}  // namespace

core::Result<std::unique_ptr<Connection>> Connection::Open(const RedisEndpoint& endpoint,
                                                           std::chrono::milliseconds timeout) {
  const timeval tv = ToTimeval(timeout);
  redisContext* context = redisConnectWithTimeout(endpoint.host.c_str(), endpoint.port, tv);
  if (context == nullptr) return Unavailable("connect: out of memory");
  if (context->err != 0) {
    std::string why = context->errstr;
    redisFree(context);
    return Unavailable("connect " + endpoint.Describe() + ": " + why);
  }
  std::unique_ptr<Connection> connection(new Connection(context));
  // Reads and writes are bounded too (SO_RCVTIMEO / SO_SNDTIMEO), not only the connect.
  if (redisSetTimeout(context, tv) != REDIS_OK) return connection->Fail("set timeout");
  (void)redisEnableKeepAlive(context);
  if (!endpoint.password.empty()) {
    std::vector<std::string> auth = {"AUTH"};
    if (!endpoint.username.empty()) auth.push_back(endpoint.username);
    auth.push_back(endpoint.password);
    TRY_ASSIGN(Reply reply, connection->Command(auth));
    // The server's message, never the password.
    if (reply.IsError()) return Unavailable("authentication refused: " + reply.text);
  }
  if (endpoint.db != 0) {
    TRY_ASSIGN(Reply reply, connection->Command({"SELECT", std::to_string(endpoint.db)}));
    if (reply.IsError())
      return Unavailable("SELECT " + std::to_string(endpoint.db) + ": " + reply.text);
  }
  return connection;
}

Connection::~Connection() {
  if (context_ != nullptr) redisFree(context_);
}

core::Error Connection::Fail(const char* operation) {
  broken_ = true;
  std::string why = context_->err != 0 ? context_->errstr : "protocol error";
  closed_by_peer_ = context_->err == REDIS_ERR_EOF ||
                    (context_->err == REDIS_ERR_IO && (errno == ECONNRESET || errno == EPIPE));
  if (context_->err == REDIS_ERR_IO && (errno == EAGAIN || errno == EWOULDBLOCK)) why = "timed out";
  return Unavailable(std::string(operation) + ": " + why);
}

core::Status Connection::Append(const std::vector<std::string>& argv) {
  std::vector<const char*> args;
  std::vector<size_t> lengths;
  args.reserve(argv.size());
  lengths.reserve(argv.size());
  for (const auto& a : argv) {
    args.push_back(a.data());
    lengths.push_back(a.size());
  }
  if (redisAppendCommandArgv(context_, static_cast<int>(args.size()), args.data(),
                             lengths.data()) != REDIS_OK)
    return Fail("write");
  return core::Ok();
}

core::Status Connection::Flush() {
  int done = 0;
  do {
    if (redisBufferWrite(context_, &done) != REDIS_OK) return Fail("write");
  } while (done == 0);
  return core::Ok();
}

core::Result<Reply> Connection::Read() {
  void* raw = nullptr;
  if (redisGetReply(context_, &raw) != REDIS_OK || raw == nullptr) return Fail("read");
  auto* reply = static_cast<redisReply*>(raw);
  Reply out = CopyReply(reply);
  freeReplyObject(reply);
  return out;
}

core::Result<Reply> Connection::Command(const std::vector<std::string>& argv) {
  if (broken_) return Unavailable("connection is broken");
  TRY(Append(argv));
  return Read();
}

core::Result<std::vector<Reply>> Connection::Pipeline(
    const std::vector<std::vector<std::string>>& commands) {
  if (broken_) return Unavailable("connection is broken");
  for (const auto& c : commands) TRY(Append(c));
  std::vector<Reply> replies;
  replies.reserve(commands.size());
  for (size_t i = 0; i < commands.size(); ++i) {
    TRY_ASSIGN(Reply r, Read());
    replies.push_back(std::move(r));
  }
  return replies;
}

core::Status Connection::Send(const std::vector<std::string>& argv) {
  if (broken_) return Unavailable("connection is broken");
  TRY(Append(argv));
  return Flush();
}

core::Result<std::optional<Reply>> Connection::Receive(std::chrono::milliseconds wait) {
  if (broken_) return Unavailable("connection is broken");
  auto take = [&]() -> core::Result<std::optional<Reply>> {
    void* raw = nullptr;
    if (redisGetReplyFromReader(context_, &raw) != REDIS_OK) return Fail("read");
    if (raw == nullptr) return std::optional<Reply>{};
    auto* reply = static_cast<redisReply*>(raw);
    Reply out = CopyReply(reply);
    freeReplyObject(reply);
    return std::optional<Reply>(std::move(out));
  };
  // A reply may already sit in the reader's buffer (several arrived in one read).
  TRY_ASSIGN(auto buffered, take());
  if (buffered) return buffered;
  pollfd pfd{};
  pfd.fd = context_->fd;
  pfd.events = POLLIN;
  const int ready = ::poll(&pfd, 1, static_cast<int>(wait.count()));
  if (ready < 0) {
    if (errno == EINTR) return std::optional<Reply>{};
    return Fail("poll");
  }
  if (ready == 0) return std::optional<Reply>{};
  // Readable (or closed): one read() that does not block, then whatever it completed.
  if (redisBufferRead(context_) != REDIS_OK) return Fail("read");
  return take();
}

}  // namespace agentidp::cache::redis
