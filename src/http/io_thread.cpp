#include "http/io_thread.hpp"

namespace agentidp::http {

namespace {
thread_local boost::asio::io_context* t_current = nullptr;
}  // namespace

boost::asio::io_context* CurrentIoContext() {
  return t_current;
}

IoThreadScope::IoThreadScope(boost::asio::io_context& context) : previous_(t_current) {
  t_current = &context;
}

IoThreadScope::~IoThreadScope() {
  t_current = previous_;
}

}  // namespace agentidp::http
