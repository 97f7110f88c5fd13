#include "domain/would_block.hpp"

namespace agentidp::domain {

core::Error WouldBlock() {
  return core::Error{core::Errc::kUnavailable, "WOULD_BLOCK", "would block"};
}

bool IsWouldBlock(const core::Error& e) {
  return e.kind == core::Errc::kUnavailable && e.code == "WOULD_BLOCK";
}

}  // namespace agentidp::domain
