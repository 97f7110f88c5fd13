#pragma once

// The PostgreSQL schema as an ordered list of versioned migrations, compiled into the binary
// (no runtime file reads). Append new versions; never edit one that has shipped.

#include <span>
#include <string_view>

namespace agentidp::store::postgres::migrations {

struct Migration {
  int version;
  std::string_view name;
  std::string_view sql;  // one or more statements, run inside the migration's transaction
};

// Ascending by version, versions contiguous from 1.
std::span<const Migration> All();

}  // namespace agentidp::store::postgres::migrations
