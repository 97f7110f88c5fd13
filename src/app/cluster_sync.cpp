#include "app/cluster_sync.hpp"

#include <pthread.h>

#include <charconv>

namespace agentidp::app {

namespace topics = domain::topics;
using std::chrono::milliseconds;
using SteadyClock = std::chrono::steady_clock;

ClusterSync::ClusterSync(domain::ClusterBus& bus, Targets targets, const core::Clock& clock,
                         Log log, milliseconds connected_poll, milliseconds disconnected_poll)
    : bus_(bus),
      targets_(std::move(targets)),
      clock_(clock),
      log_(std::move(log)),
      connected_poll_(connected_poll),
      disconnected_poll_(disconnected_poll) {}

ClusterSync::~ClusterSync() {
  Stop();
}

void ClusterSync::Start() {
  auto& bus = bus_;
  targets_.clients->SetChangeListener(
      [&bus](const std::string& agent_id) { bus.Publish(topics::kAgent, agent_id); });
  targets_.clients->SetOrganizationListener([&bus](const std::string& organization_id) {
    bus.Publish(topics::kOrganization, organization_id);
  });
  if (targets_.partners)
    targets_.partners->SetChangeListener(
        [&bus](const std::string& partner_id) { bus.Publish(topics::kPartner, partner_id); });
  targets_.revocations->SetListener([&bus](const std::string& jti, int64_t expires_at_ms) {
    bus.PublishRevocation(jti, expires_at_ms);
  });
  thread_ = std::thread([this] {
    pthread_setname_np(pthread_self(), "agentidp-sync");
    Run();
  });
  domain::ClusterBus::Handlers handlers;
  handlers.message = [this](std::string_view topic, std::string_view payload) {
    OnMessage(topic, payload);
  };
  handlers.resync = [this] {
    targets_.clients->Clear();
    if (targets_.partners) targets_.partners->ClearCache();
    if (targets_.org_tiers) targets_.org_tiers->Clear();
    unsigned work = kRevocations | kKeys;
    {
      std::lock_guard lock(mu_);
      // A policy message may have been missed too; not at the first connection (the policy
      // was just loaded).
      if (resynced_once_) work |= kPolicy;
      resynced_once_ = true;
    }
    Request(work);
  };
  handlers.disconnected = [this] { Request(kRevocations); };
  bus_.Start(std::move(handlers));
}

void ClusterSync::Stop() {
  bus_.Stop();
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

void ClusterSync::PolicyReloaded() {
  bus_.Publish(topics::kPolicy, "");
}

void ClusterSync::OnMessage(std::string_view topic, std::string_view payload) {
  if (topic == topics::kAgent) {
    targets_.clients->Forget(std::string(payload));
  } else if (topic == topics::kPartner) {
    if (targets_.partners) targets_.partners->Forget(std::string(payload));
  } else if (topic == topics::kOrganization) {
    targets_.clients->ForgetOrganization(std::string(payload));
    if (targets_.org_tiers) targets_.org_tiers->Invalidate(std::string(payload));
  } else if (topic == topics::kRevoked) {
    const size_t space = payload.find(' ');
    if (space == std::string_view::npos) return;
    int64_t expires_at_ms = 0;
    const std::string_view exp = payload.substr(space + 1);
    auto [p, ec] = std::from_chars(exp.data(), exp.data() + exp.size(), expires_at_ms);
    if (ec != std::errc() || p != exp.data() + exp.size()) return;
    targets_.revocations->Remember(std::string(payload.substr(0, space)), expires_at_ms);
  } else if (topic == topics::kKeys) {
    Request(kKeys);
  } else if (topic == topics::kPolicy) {
    Request(kPolicy);
  }
}

void ClusterSync::Request(unsigned work) {
  {
    std::lock_guard lock(mu_);
    pending_ |= work;
  }
  cv_.notify_all();
}

void ClusterSync::Run() {
  auto next_poll = SteadyClock::now() + connected_poll_;
  // Next scheduled key-set change; max() = none. (A plain time point, not std::optional:
  // GCC 12 -O3 reports a false -Wmaybe-uninitialized.)
  constexpr auto kNever = SteadyClock::time_point::max();
  auto key_change = kNever;
  auto schedule_keys = [&] {
    auto snap = targets_.keyring->Snapshot();
    if (snap && snap->next_change_ms > 0)
      key_change = SteadyClock::now() + milliseconds(snap->next_change_ms - clock_.NowMs());
    else
      key_change = kNever;
  };
  schedule_keys();
  std::unique_lock lock(mu_);
  while (!stopping_) {
    auto wake = next_poll;
    if (key_change < wake) wake = key_change;
    cv_.wait_until(lock, wake, [&] { return stopping_ || pending_ != 0; });
    if (stopping_) break;
    unsigned work = pending_;
    pending_ = 0;
    lock.unlock();
    const auto now = SteadyClock::now();
    if ((work & kRevocations) || now >= next_poll) {
      if (auto st = targets_.revocations->Load(); !st.ok() && log_)
        log_(true, "revocations could not be re-read from the store: " + st.error().message);
      next_poll = SteadyClock::now() + (bus_.Connected() ? connected_poll_ : disconnected_poll_);
    }
    if ((work & kKeys) || now >= key_change) {
      if (auto st = targets_.keyring->Refresh(); st.ok()) {
        schedule_keys();
      } else {
        if (log_) log_(true, "signing keys could not be re-read: " + st.error().message);
        key_change = SteadyClock::now() + std::chrono::seconds(1);
      }
    }
    if ((work & kPolicy) && targets_.reload_policy) targets_.reload_policy();
    lock.lock();
  }
}

}  // namespace agentidp::app
