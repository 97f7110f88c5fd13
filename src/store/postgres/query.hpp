#pragma once

// Helpers shared by the store files: a WHERE clause assembled from constant fragments with
// numbered parameters (values are always bound, never spliced), and one-statement list pages.

#include "domain/model.hpp"
#include "store/common/rows.hpp"
#include "store/postgres/connection.hpp"
#include "store/postgres/database.hpp"

#include <algorithm>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace agentidp::store::postgres {

class WhereClause {
 public:
  // `column_and_operator` is a constant such as "agent_id =" or "timestamp >=".
  void Add(std::string_view column_and_operator, Param value) {
    sql_ += params_.empty() ? " WHERE " : " AND ";
    sql_.append(column_and_operator);
    sql_ += " $" + std::to_string(params_.size() + 1);
    params_.push_back(std::move(value));
  }
  const std::string& sql() const { return sql_; }
  const std::vector<Param>& params() const { return params_; }
  // The number of the next parameter after the clause's own.
  int next_index() const { return static_cast<int>(params_.size()) + 1; }

 private:
  std::string sql_;
  std::vector<Param> params_;
};

using common::PageWindow;
using common::ToWindow;

// A filtered list page: the total and the page come from ONE statement, hence one snapshot,
// so `total` and `data` agree without an explicit transaction (and in one round trip).
// The count row is always there; a page past the end yields it with NULL page columns.
// `read_row` turns a Row (columns numbered from 0 = the first of `columns`) into Result<T>.
// The first of `columns` must be NOT NULL: NULL there tells an empty page apart.
template <typename T, typename ReadRow>
core::Result<domain::PageOf<T>> ListPage(Database& database, const domain::TenantScope& scope,
                                         std::string_view table, std::string_view columns,
                                         std::string_view order_by, const WhereClause& where,
                                         const domain::Page& page, ReadRow read_row) {
  const std::string from = std::string(" FROM ") + std::string(table) + where.sql();
  const std::string limit = "$" + std::to_string(where.next_index());
  const std::string offset = "$" + std::to_string(where.next_index() + 1);
  const std::string sql = "SELECT total.n, page.* FROM (SELECT COUNT(*) AS n" + from +
                          ") total LEFT JOIN (SELECT " + std::string(columns) + from +
                          std::string(order_by) + " LIMIT " + limit + "::bigint OFFSET " + offset +
                          "::bigint) page ON true" + std::string(order_by);
  const PageWindow window = ToWindow(page);
  std::vector<Param> params = where.params();
  params.emplace_back(window.limit);
  params.emplace_back(window.offset);
  return database.Run(scope, [&](Connection& connection) -> core::Result<domain::PageOf<T>> {
    TRY_ASSIGN(Rows rows, connection.Query(sql, params));
    domain::PageOf<T> result;
    if (rows.empty()) return result;
    result.total = rows.Int64(0, 0);
    for (int i = 0; i < rows.size(); ++i) {
      Row row(rows, i, /*offset=*/1);
      if (row.IsNull(0)) break;  // the count row of a page past the end
      TRY_ASSIGN(T item, read_row(row));
      result.data.push_back(std::move(item));
    }
    return result;
  });
}

}  // namespace agentidp::store::postgres
