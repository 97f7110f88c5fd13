#pragma once

// "Not answerable from memory; ask again from a thread that may block." Returned by domain
// calls made with `may_load` / `may_block` false (an I/O thread, DESIGN §4) when the answer
// needs the store or a network round trip (Redis). Never reaches a client: the API moves the
// request to the worker pool.

#include "core/result.hpp"

namespace agentidp::domain {

core::Error WouldBlock();
bool IsWouldBlock(const core::Error& error);

}  // namespace agentidp::domain
