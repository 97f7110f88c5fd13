#include "domain/oauth/client_directory.hpp"

#include "core/random.hpp"

#include <mutex>

namespace agentidp::domain {

ClientDirectory::ClientDirectory(Store& store, const core::Clock& clock, int64_t ttl_ms,
                                 size_t max_entries)
    : store_(store), clock_(clock), ttl_ms_(ttl_ms), max_entries_(max_entries) {}

core::Result<std::shared_ptr<const ClientRecord>> ClientDirectory::Find(const std::string& agent_id,
                                                                        bool may_load) {
  const int64_t now = clock_.NowMs();
  {
    std::shared_lock lock(mu_);
    auto it = entries_.find(agent_id);
    if (it != entries_.end() && now - it->second->loaded_at_ms < ttl_ms_) return it->second;
  }
  // Ids that cannot exist never reach the store (nor fill the cache).
  if (!core::IsUuid(agent_id)) return std::shared_ptr<const ClientRecord>{};
  if (!may_load) return WouldBlock();
  const uint64_t generation = generation_.load();
  // Looked up by client id before anyone knows its organization: the system scope's
  // cross-tenant read (docs/security.md).
  const TenantScope lookup = TenantScope::System();
  TRY_ASSIGN(auto agent, store_.agents().Get(lookup, agent_id));
  if (!agent) return std::shared_ptr<const ClientRecord>{};
  TRY_ASSIGN(auto creds, store_.credentials().ListActiveByAgent(lookup, agent_id, now));
  TRY_ASSIGN(auto org, store_.orgs().Get(lookup, agent->organization_id));
  auto rec = std::make_shared<ClientRecord>();
  rec->organization_active = org && org->status == "active";
  rec->agent = std::move(*agent);
  rec->active_credentials = std::move(creds);
  rec->loaded_at_ms = now;
  std::unique_lock lock(mu_);
  if (generation_.load() == generation) {
    if (entries_.size() >= max_entries_) entries_.clear();  // crude bound; reloads are cheap
    entries_[agent_id] = rec;
  }
  return std::shared_ptr<const ClientRecord>(std::move(rec));
}

void ClientDirectory::Invalidate(const std::string& agent_id) {
  Forget(agent_id);
  if (listener_) listener_(agent_id);
}

void ClientDirectory::Forget(const std::string& agent_id) {
  std::unique_lock lock(mu_);
  ++generation_;
  entries_.erase(agent_id);
}

void ClientDirectory::InvalidateOrganization(const std::string& organization_id) {
  ForgetOrganization(organization_id);
  if (org_listener_) org_listener_(organization_id);
}

void ClientDirectory::ForgetOrganization(const std::string& organization_id) {
  // Organization changes are rare: a scan of the cache is cheaper than an index kept on
  // every load.
  std::unique_lock lock(mu_);
  ++generation_;
  std::erase_if(entries_, [&](const auto& kv) {
    return kv.second->agent.organization_id == organization_id;
  });
}

void ClientDirectory::SetOrganizationListener(std::function<void(const std::string&)> listener) {
  org_listener_ = std::move(listener);
}

void ClientDirectory::Clear() {
  std::unique_lock lock(mu_);
  ++generation_;
  entries_.clear();
}

void ClientDirectory::SetChangeListener(std::function<void(const std::string&)> listener) {
  listener_ = std::move(listener);
}

}  // namespace agentidp::domain
