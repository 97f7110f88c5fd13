#pragma once

// Whose rows a store call acts on. Every call on a store that holds tenant data takes one, so
// the tenant is explicit at the store boundary (no hidden per-thread state).
//
// The PostgreSQL backend enforces it a second time, beside the queries' own WHERE clauses,
// with row-level security keyed on it (docs/security.md, "Tenant isolation enforced
// twice"): a tenant scope sees and writes only its organizations' rows; the system scope
// reads every tenant's rows and appends to (and purges) the audit chain, but writes no
// tenant's business rows. SQLite and the in-memory test store ignore it: their queries
// confine tenants on their own.

#include "domain/principal.hpp"

#include <string>
#include <utility>
#include <vector>

namespace agentidp::domain {

class TenantScope {
 public:
  // Rows of one organization.
  static TenantScope Org(std::string organization_id) {
    TenantScope scope;
    scope.organizations_.push_back(std::move(organization_id));
    return scope;
  }
  // Rows of two organizations at once: moving an agent from one to the other (the row must be
  // visible before and admissible after the move).
  static TenantScope Orgs(std::string first, std::string second) {
    TenantScope scope;
    scope.organizations_.push_back(std::move(first));
    scope.organizations_.push_back(std::move(second));
    return scope;
  }
  // Rows of any of these organizations (tests; bulk tools).
  static TenantScope Orgs(std::vector<std::string> organization_ids) {
    TenantScope scope;
    scope.organizations_ = std::move(organization_ids);
    return scope;
  }
  // Cross-tenant paths the server genuinely needs: client lookup by id at the token endpoint,
  // audit chain append / verify / retention, cross-tenant administration reads (admin:orgs),
  // workload identity policy lookup by issuer, DID documents of any agent.
  static TenantScope System() {
    TenantScope scope;
    scope.system_ = true;
    return scope;
  }
  // What a caller may read: its own organization, or every one with cross-tenant rights.
  static TenantScope ReadFor(const Principal& caller) {
    return caller.cross_tenant ? System() : Org(caller.organization_id);
  }

  bool system() const { return system_; }
  const std::vector<std::string>& organizations() const { return organizations_; }

 private:
  TenantScope() = default;
  bool system_ = false;
  std::vector<std::string> organizations_;
};

}  // namespace agentidp::domain
