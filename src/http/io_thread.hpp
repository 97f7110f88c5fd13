#pragma once

// Which io_context the calling thread runs: each I/O thread of the server runs exactly one
// (server.cpp), and clients that live on the event loops (redis_loop.cpp) find theirs here.
// Internal to src/http/*.cpp.

namespace boost::asio {
class io_context;
}  // namespace boost::asio

namespace agentidp::http {

// nullptr on any thread that is not an I/O thread.
boost::asio::io_context* CurrentIoContext();

// Marks the calling thread as running `context` until the guard goes away (the server's I/O
// threads; tests that drive an io_context themselves).
class IoThreadScope {
 public:
  explicit IoThreadScope(boost::asio::io_context& context);
  ~IoThreadScope();
  IoThreadScope(const IoThreadScope&) = delete;
  IoThreadScope& operator=(const IoThreadScope&) = delete;

 private:
  boost::asio::io_context* previous_;
};

}  // namespace agentidp::http
