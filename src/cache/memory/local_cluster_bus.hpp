#pragma once

// The ClusterBus of a single node (no REDIS_URL): there is nobody to tell, so publishing does
// nothing and the bus is always "connected" (no resynchronization is ever needed).

#include "domain/cluster.hpp"

namespace agentidp::cache {

class LocalClusterBus final : public domain::ClusterBus {
 public:
  void Start(Handlers) override {}
  void Stop() override {}
  void Publish(std::string_view, std::string_view) override {}
  void PublishRevocation(const std::string&, int64_t) override {}
  bool Connected() const override { return true; }
  std::string BackendName() const override { return "memory"; }
};

}  // namespace agentidp::cache
