#pragma once

// Composition root (DESIGN §6.1): reads the configuration once, builds every component in
// dependency order, owns their lifetimes, and runs the server until a signal stops it.

#include "app/config.hpp"
#include "core/result.hpp"

#include <string>

namespace agentidp::app {

// `agentidp serve`: blocks until SIGTERM/SIGINT; SIGHUP reloads the policy file.
int Serve(const Config& config);
// `agentidp migrate`: applies pending migrations and exits.
int Migrate(const Config& config);
// `agentidp keys list|rotate`.
int KeysList(const Config& config);
int KeysRotate(const Config& config, const std::string& alg);

}  // namespace agentidp::app
