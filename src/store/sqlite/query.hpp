#pragma once

// Helpers shared by the store files: a WHERE clause assembled from constant fragments with
// numbered parameters (values are always bound, never spliced), and page arithmetic.

#include "domain/model.hpp"
#include "store/sqlite/connection.hpp"

#include <algorithm>
#include <cstdint>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

namespace agentidp::store::sqlite {

class WhereClause {
 public:
  // `column_and_operator` is a constant such as "agent_id =" or "timestamp >=".
  void Add(std::string_view column_and_operator, std::variant<std::string, int64_t> value) {
    sql_ += params_.empty() ? " WHERE " : " AND ";
    sql_.append(column_and_operator);
    sql_ += " ?" + std::to_string(params_.size() + 1);
    params_.push_back(std::move(value));
  }
  const std::string& sql() const { return sql_; }
  // The index of the next parameter after the clause's own.
  int next_index() const { return static_cast<int>(params_.size()) + 1; }
  void BindTo(Statement& statement) const {
    for (size_t i = 0; i < params_.size(); ++i) {
      std::visit([&](const auto& value) { statement.Bind(static_cast<int>(i) + 1, value); },
                 params_[i]);
    }
  }

 private:
  std::string sql_;
  std::vector<std::variant<std::string, int64_t>> params_;
};

struct PageWindow {
  int64_t limit;
  int64_t offset;
};

// Page is 1-based; the domain validates limits, the store only keeps the arithmetic sane.
inline PageWindow ToWindow(const domain::Page& page) {
  int64_t limit = std::max(page.limit, 0);
  int64_t offset = (static_cast<int64_t>(std::max(page.page, 1)) - 1) * limit;
  return {limit, offset};
}

}  // namespace agentidp::store::sqlite
