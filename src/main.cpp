// agentidp command line: serve, migrate, keys list|rotate, version. Everything else is in
// the libraries (the composition root is app/runtime.cpp).

#include "app/config.hpp"
#include "app/runtime.hpp"

#include <CLI/CLI.hpp>

#include <iostream>

int main(int argc, char** argv) {
  using agentidp::app::Config;
  CLI::App cli{"AgentIdP — identity provider for AI agents"};
  cli.require_subcommand(1);
  std::string config_file, data_dir, bind, tls_cert, tls_key, alg;
  int port = -1;
  auto common = [&](CLI::App* c) {
    c->add_option("-c,--config", config_file, "JSON configuration file");
    c->add_option("--data-dir", data_dir, "Data directory (overrides configuration)");
  };
  auto* serve = cli.add_subcommand("serve", "Run the server");
  common(serve);
  serve->add_option("-p,--port", port, "Port (0 = any free port)");
  serve->add_option("--bind", bind, "Address to listen on");
  serve->add_option("--tls-cert", tls_cert, "PEM certificate chain: serve HTTPS");
  serve->add_option("--tls-key", tls_key, "PEM private key for --tls-cert");
  auto* migrate = cli.add_subcommand("migrate", "Apply pending store migrations");
  common(migrate);
  auto* keys = cli.add_subcommand("keys", "Signing keys");
  keys->require_subcommand(1);
  auto* keys_list = keys->add_subcommand("list", "List signing keys");
  common(keys_list);
  auto* keys_rotate = keys->add_subcommand("rotate", "Stage a new signing key");
  common(keys_rotate);
  keys_rotate->add_option("--alg", alg, "RS256, ES256 or EdDSA (default: configured)");
  cli.add_subcommand("version", "Print the version");
  CLI11_PARSE(cli, argc, argv);

  if (cli.got_subcommand("version")) {
    std::cout << "agentidp " << AGENTIDP_VERSION << "\n";
    return 0;
  }
  auto env = agentidp::app::ProcessEnvironment();
  auto loaded = agentidp::app::LoadConfig(config_file, env);
  if (!loaded.ok()) {
    std::cerr << "agentidp: " << loaded.error().message << "\n";
    return 2;
  }
  Config config = std::move(loaded).value();
  if (!data_dir.empty()) config.data_dir = data_dir;
  if (port >= 0) {
    if (port > 65535) {
      std::cerr << "agentidp: --port must be 0-65535\n";
      return 2;
    }
    config.port = port;
  }
  if (!bind.empty()) config.bind = bind;
  if (!tls_cert.empty()) config.tls_cert = tls_cert;
  if (!tls_key.empty()) config.tls_key = tls_key;
  if (config.tls_cert.empty() != config.tls_key.empty()) {
    std::cerr << "agentidp: --tls-cert and --tls-key go together\n";
    return 2;
  }
  if (!alg.empty() && alg != "RS256" && alg != "ES256" && alg != "EdDSA") {
    std::cerr << "agentidp: --alg must be RS256, ES256 or EdDSA\n";
    return 2;
  }
  if (cli.got_subcommand("serve")) return agentidp::app::Serve(config);
  if (cli.got_subcommand("migrate")) return agentidp::app::Migrate(config);
  if (keys_list->parsed()) return agentidp::app::KeysList(config);
  if (keys_rotate->parsed()) return agentidp::app::KeysRotate(config, alg);
  return 2;
}
