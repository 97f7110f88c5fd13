#pragma once

// Row mapping shared by the SQLite and PostgreSQL stores. Both backends read the same column
// order for each table, so the mapping from a result row to a domain struct lives here once,
// as templates over the backend's row type. A row type provides, for 0-based columns:
//   std::string Text(int), int64_t Int64(int), std::optional<int64_t> OptionalInt64(int),
//   bool Bool(int)
// (sqlite::Statement and postgres::Row). A log type provides Record(std::string).
// SQL text stays per backend (placeholders and casts differ); only the column order the
// readers below expect is fixed here, and each backend's SELECTs must list exactly it.
//
// Store code only: no HTTP, no backend headers.

#include "core/result.hpp"
#include "domain/model.hpp"

#include <boost/json/array.hpp>
#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <boost/json/value.hpp>

#include <algorithm>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace agentidp::store::common {

// ---------------------------------------------------------------------------------------
// Paging

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

// ---------------------------------------------------------------------------------------
// agents

// Columns in ReadAgent's order; agent_id first (PostgreSQL's ListPage needs a NOT NULL first
// column).
inline constexpr std::string_view kAgentColumns =
    "agent_id, organization_id, email, agent_type, version, capabilities, owner, "
    "deployment_env, status, role, is_public, created_at, updated_at";

// GET /agents filters, assembled by each backend's WhereClause.
inline constexpr std::string_view kAgentFilterOrganization = "organization_id =";
inline constexpr std::string_view kAgentFilterStatus = "status =";
inline constexpr std::string_view kAgentFilterType = "agent_type =";
inline constexpr std::string_view kAgentFilterOwner = "owner =";
inline constexpr std::string_view kAgentsNewestFirst = " ORDER BY created_at DESC, agent_id DESC";

// The GET /agents filter as conditions of a backend's WhereClause.
template <typename WhereT>
void AddAgentFilters(WhereT& where, const domain::AgentFilter& filter) {
  if (filter.organization_id) where.Add(kAgentFilterOrganization, *filter.organization_id);
  if (filter.status) where.Add(kAgentFilterStatus, *filter.status);
  if (filter.agent_type) where.Add(kAgentFilterType, *filter.agent_type);
  if (filter.owner) where.Add(kAgentFilterOwner, *filter.owner);
}

// ---------------------------------------------------------------------------------------
// Lists of strings stored as a JSON array (TEXT on SQLite, jsonb on PostgreSQL)

inline std::string StringArrayToJson(const std::vector<std::string>& items) {
  boost::json::array array;
  array.reserve(items.size());
  for (const auto& item : items) array.emplace_back(item);
  return boost::json::serialize(array);
}

// nullopt unless `text` is a JSON array whose items are all strings.
inline std::optional<std::vector<std::string>> StringArrayFromJson(const std::string& text) {
  boost::system::error_code ec;
  boost::json::value value = boost::json::parse(text, ec);
  if (ec || !value.is_array()) return std::nullopt;
  std::vector<std::string> items;
  items.reserve(value.get_array().size());
  for (const auto& item : value.get_array()) {
    if (!item.is_string()) return std::nullopt;
    items.emplace_back(item.get_string());
  }
  return items;
}

// A stored column that should hold a string array but does not: the detail goes to the log
// prefixed with the backend ("sqlite", "postgres"), the client sees "Store error".
template <typename Log>
core::Result<std::vector<std::string>> StringArrayColumn(const std::string& text, Log& log,
                                                         std::string_view backend,
                                                         std::string_view complaint) {
  auto items = StringArrayFromJson(text);
  if (!items) {
    log.Record(std::string(backend) + ": " + std::string(complaint));
    return core::Error::Internal("Store error");
  }
  return std::move(*items);
}

inline std::string CapabilitiesToJson(const std::vector<std::string>& capabilities) {
  return StringArrayToJson(capabilities);
}

template <typename Log>
core::Result<std::vector<std::string>> CapabilitiesFromJson(const std::string& text, Log& log,
                                                            std::string_view backend) {
  return StringArrayColumn(text, log, backend,
                           "agents.capabilities is not a JSON array of strings");
}

template <typename RowT, typename Log>
core::Result<domain::Agent> ReadAgent(const RowT& row, Log& log, std::string_view backend) {
  domain::Agent agent;
  agent.agent_id = row.Text(0);
  agent.organization_id = row.Text(1);
  agent.email = row.Text(2);
  agent.agent_type = row.Text(3);
  agent.version = row.Text(4);
  TRY_ASSIGN(agent.capabilities, CapabilitiesFromJson(row.Text(5), log, backend));
  agent.owner = row.Text(6);
  agent.deployment_env = row.Text(7);
  agent.status = row.Text(8);
  agent.role = row.Text(9);
  agent.is_public = row.Bool(10);
  agent.created_at = row.Int64(11);
  agent.updated_at = row.Int64(12);
  return agent;
}

// ---------------------------------------------------------------------------------------
// credentials: credential_id, agent_id, type, status, secret_hash, created_at, expires_at,
// revoked_at, jwks, jwks_uri

template <typename RowT>
domain::Credential ReadCredential(const RowT& row) {
  domain::Credential credential;
  credential.credential_id = row.Text(0);
  credential.agent_id = row.Text(1);
  credential.type = row.Text(2);
  credential.status = row.Text(3);
  credential.secret_hash = row.Text(4);
  credential.created_at = row.Int64(5);
  credential.expires_at = row.OptionalInt64(6);
  credential.revoked_at = row.OptionalInt64(7);
  credential.jwks_json = row.Text(8);
  credential.jwks_uri = row.Text(9);
  return credential;
}

// ---------------------------------------------------------------------------------------
// organizations

// Columns in ReadOrganization's order; organization_id first (NOT NULL, see kAgentColumns).
inline constexpr std::string_view kOrgColumns =
    "organization_id, name, slug, plan_tier, max_agents, status, created_at, updated_at";

inline constexpr std::string_view kOrgFilterId = "organization_id =";
inline constexpr std::string_view kOrgFilterStatus = "status =";
inline constexpr std::string_view kOrgFilterNotStatus = "status <>";
inline constexpr std::string_view kOrgsNewestFirst =
    " ORDER BY created_at DESC, organization_id DESC";

template <typename RowT>
domain::Organization ReadOrganization(const RowT& row) {
  domain::Organization org;
  org.organization_id = row.Text(0);
  org.name = row.Text(1);
  org.slug = row.Text(2);
  org.plan_tier = row.Text(3);
  org.max_agents = static_cast<int>(row.Int64(4));
  org.status = row.Text(5);
  org.created_at = row.Int64(6);
  org.updated_at = row.Int64(7);
  return org;
}

// ---------------------------------------------------------------------------------------
// delegations: chain_id, parent_chain_id, organization_id, delegator_agent_id,
// delegatee_agent_id, scopes, depth, token_jti, created_at, expires_at, revoked_at

template <typename RowT>
domain::Delegation ReadDelegation(const RowT& row) {
  domain::Delegation d;
  d.chain_id = row.Text(0);
  d.parent_chain_id = row.Text(1);
  d.organization_id = row.Text(2);
  d.delegator_agent_id = row.Text(3);
  d.delegatee_agent_id = row.Text(4);
  d.scopes = row.Text(5);
  d.depth = static_cast<int>(row.Int64(6));
  d.token_jti = row.Text(7);
  d.created_at = row.Int64(8);
  d.expires_at = row.Int64(9);
  d.revoked_at = row.OptionalInt64(10);
  return d;
}

// ---------------------------------------------------------------------------------------
// agent_keys: kid, agent_id, alg, public_jwk, sealed_private_key, status, created_at

template <typename RowT>
domain::AgentKey ReadAgentKey(const RowT& row) {
  domain::AgentKey key;
  key.kid = row.Text(0);
  key.agent_id = row.Text(1);
  key.alg = row.Text(2);
  key.public_jwk_json = row.Text(3);
  key.sealed_private_key = row.Text(4);
  key.status = row.Text(5);
  key.created_at = row.Int64(6);
  return key;
}

// ---------------------------------------------------------------------------------------
// signing_keys: kid, alg, public_jwk, sealed_private_key, status, created_at, activates_at,
// retired_at, publish_until

template <typename RowT>
domain::SigningKey ReadSigningKey(const RowT& row) {
  domain::SigningKey key;
  key.kid = row.Text(0);
  key.alg = row.Text(1);
  key.public_jwk_json = row.Text(2);
  key.sealed_private_key = row.Text(3);
  key.status = row.Text(4);
  key.created_at = row.Int64(5);
  key.activates_at = row.Int64(6);
  key.retired_at = row.OptionalInt64(7);
  key.publish_until = row.OptionalInt64(8);
  return key;
}

// ---------------------------------------------------------------------------------------
// trust_policies: policy_id, organization_id, provider, issuer, repository, branch, agent_id,
// audience, conditions, created_by, created_at

template <typename RowT>
domain::TrustPolicy ReadTrustPolicy(const RowT& row) {
  domain::TrustPolicy p;
  p.policy_id = row.Text(0);
  p.organization_id = row.Text(1);
  p.provider = row.Text(2);
  p.issuer = row.Text(3);
  p.repository = row.Text(4);
  p.branch = row.Text(5);
  p.agent_id = row.Text(6);
  p.audience = row.Text(7);
  p.conditions_json = row.Text(8);
  p.created_by = row.Text(9);
  p.created_at = row.Int64(10);
  return p;
}

// ---------------------------------------------------------------------------------------
// federation_partners: partner_id, name, issuer, jwks_uri, allowed_organizations, status,
// expires_at, created_at, updated_at

template <typename RowT, typename Log>
core::Result<domain::FederationPartner> ReadFederationPartner(const RowT& row, Log& log,
                                                              std::string_view backend) {
  domain::FederationPartner p;
  p.partner_id = row.Text(0);
  p.name = row.Text(1);
  p.issuer = row.Text(2);
  p.jwks_uri = row.Text(3);
  TRY_ASSIGN(p.allowed_organizations,
             StringArrayColumn(row.Text(4), log, backend,
                               "federation_partners.allowed_organizations is not a JSON array"));
  p.status = row.Text(5);
  p.expires_at = row.OptionalInt64(6);
  p.created_at = row.Int64(7);
  p.updated_at = row.Int64(8);
  return p;
}

// ---------------------------------------------------------------------------------------
// revoked_tokens: jti, expires_at, revoked_at

template <typename RowT>
domain::RevokedToken ReadRevokedToken(const RowT& row) {
  return domain::RevokedToken{
      .jti = row.Text(0), .expires_at = row.Int64(1), .revoked_at = row.Int64(2)};
}

// ---------------------------------------------------------------------------------------
// audit_events (seq first: ListPage needs a NOT NULL first column)

inline constexpr std::string_view kAuditColumns =
    "seq, event_id, agent_id, organization_id, action, outcome, timestamp, ip_address, "
    "user_agent, metadata, hash, previous_hash";
inline constexpr std::string_view kAuditFilterOrganization = "organization_id =";
inline constexpr std::string_view kAuditFilterAgent = "agent_id =";
inline constexpr std::string_view kAuditFilterAction = "action =";
inline constexpr std::string_view kAuditFilterOutcome = "outcome =";
inline constexpr std::string_view kAuditFilterFrom = "timestamp >=";
inline constexpr std::string_view kAuditFilterTo = "timestamp <=";
inline constexpr std::string_view kAuditNewestFirst = " ORDER BY timestamp DESC, seq DESC";

// The GET /audit filter as conditions of a backend's WhereClause.
template <typename WhereT>
void AddAuditFilters(WhereT& where, const domain::AuditFilter& filter) {
  if (filter.organization_id) where.Add(kAuditFilterOrganization, *filter.organization_id);
  if (filter.agent_id) where.Add(kAuditFilterAgent, *filter.agent_id);
  if (filter.action) where.Add(kAuditFilterAction, *filter.action);
  if (filter.outcome) where.Add(kAuditFilterOutcome, *filter.outcome);
  if (filter.from_ms) where.Add(kAuditFilterFrom, *filter.from_ms);
  if (filter.to_ms) where.Add(kAuditFilterTo, *filter.to_ms);
}

template <typename RowT>
domain::AuditEvent ReadAuditEvent(const RowT& row) {
  domain::AuditEvent event;
  event.seq = row.Int64(0);
  event.event_id = row.Text(1);
  event.agent_id = row.Text(2);
  event.organization_id = row.Text(3);
  event.action = row.Text(4);
  event.outcome = row.Text(5);
  event.timestamp = row.Int64(6);
  event.ip_address = row.Text(7);
  event.user_agent = row.Text(8);
  event.metadata_json = row.Text(9);
  event.hash = row.Text(10);
  event.previous_hash = row.Text(11);
  return event;
}

}  // namespace agentidp::store::common
