#pragma once

// Helpers shared by the store files: a WHERE clause assembled from constant fragments with
// numbered parameters (values are always bound, never spliced), and page arithmetic.

#include "domain/model.hpp"
#include "store/common/rows.hpp"
#include "store/sqlite/connection.hpp"
#include "store/sqlite/database.hpp"

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

using common::PageWindow;
using common::ToWindow;

// A filtered list page: COUNT(*) and the page itself, read in one snapshot so `total` and
// `data` agree. `read_row` turns the current row into a core::Result<T>.
template <typename T, typename ReadRow>
core::Result<domain::PageOf<T>> ListPage(Database& database, std::string_view table,
                                         std::string_view columns, std::string_view order_by,
                                         const WhereClause& where, const domain::Page& page,
                                         ReadRow read_row) {
  const std::string from = std::string(" FROM ") + std::string(table) + where.sql();
  const std::string count_sql = "SELECT COUNT(*)" + from;
  const std::string page_sql = "SELECT " + std::string(columns) + from + std::string(order_by) +
                               " LIMIT ?" + std::to_string(where.next_index()) + " OFFSET ?" +
                               std::to_string(where.next_index() + 1);
  const PageWindow window = ToWindow(page);
  return database.ReadSnapshot([&](Connection& connection) -> core::Result<domain::PageOf<T>> {
    domain::PageOf<T> result;
    {
      TRY_ASSIGN(auto count, connection.Prepare(count_sql));
      where.BindTo(count);
      TRY_ASSIGN(bool has_row, count.Step());
      if (has_row) result.total = count.Int64(0);
    }
    TRY_ASSIGN(auto select, connection.Prepare(page_sql));
    where.BindTo(select);
    select.Bind(where.next_index(), window.limit);
    select.Bind(where.next_index() + 1, window.offset);
    while (true) {
      TRY_ASSIGN(bool has_row, select.Step());
      if (!has_row) break;
      TRY_ASSIGN(T row, read_row(select));
      result.data.push_back(std::move(row));
    }
    return result;
  });
}

}  // namespace agentidp::store::sqlite
