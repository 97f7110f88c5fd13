#include "app/config.hpp"
#include "app/api.hpp"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>

namespace agentidp::app {
namespace {

TEST(Config, DefaultsAndEnvironment) {
  auto c = LoadConfig("", {{"PORT", "8080"}, {"AGENTIDP_SIGNING_ALG", "ES256"}, {"HOME", "/x"}});
  ASSERT_TRUE(c.ok()) << c.error().message;
  EXPECT_EQ(c->port, 8080);
  EXPECT_EQ(c->signing_alg, "ES256");
  EXPECT_EQ(c->EffectiveIssuer(8080), "http://127.0.0.1:8080");
  EXPECT_EQ(c->EffectiveAudience(8080), "http://127.0.0.1:8080/api/v1");
}

TEST(Config, RefusesUnknownAndInvalidSettingsWithTheirName) {
  auto unknown = LoadConfig("", {{"AGENTIDP_SIGNNG_ALG", "ES256"}});
  ASSERT_FALSE(unknown.ok());
  EXPECT_NE(unknown.error().message.find("AGENTIDP_SIGNNG_ALG"), std::string::npos);
  auto bad = LoadConfig("", {{"AGENTIDP_SIGNING_ALG", "HS256"}});
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.error().message.find("RS256"), std::string::npos);
  EXPECT_FALSE(LoadConfig("", {{"PORT", "70000"}}).ok());
  EXPECT_FALSE(LoadConfig("", {{"PORT", "80x"}}).ok());
  EXPECT_FALSE(LoadConfig("", {{"AGENTIDP_ISSUER", "https://idp.example/"}}).ok());
  EXPECT_FALSE(LoadConfig("", {{"AGENTIDP_TLS_CERT", "a.pem"}}).ok());
}

TEST(Config, FileIsStrictAndEnvironmentWins) {
  auto dir =
      std::filesystem::temp_directory_path() / ("agentidp-config-" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  auto file = (dir / "c.json").string();
  std::ofstream(file) << R"({"port": 4000, "signing_alg": "EdDSA", "access_log": false})";
  auto c = LoadConfig(file, {{"PORT", "5000"}});
  ASSERT_TRUE(c.ok()) << c.error().message;
  EXPECT_EQ(c->port, 5000);
  EXPECT_EQ(c->signing_alg, "EdDSA");
  EXPECT_FALSE(c->access_log);
  std::ofstream(file) << R"({"prot": 4000})";
  auto typo = LoadConfig(file, {});
  ASSERT_FALSE(typo.ok());
  EXPECT_NE(typo.error().message.find("prot"), std::string::npos);
  std::ofstream(file) << R"({"master_key": "00"})";
  EXPECT_FALSE(LoadConfig(file, {}).ok()) << "secrets never come from the file";
  std::ofstream(file) << R"({"port": 1, "port": 2})";
  EXPECT_FALSE(LoadConfig(file, {}).ok()) << "duplicate members";
  std::filesystem::remove_all(dir);
}

TEST(Config, SharedStateAndPoolSettings) {
  auto c = LoadConfig("", {{"REDIS_URL", "redis://:pw@cache.internal:6380/2"},
                           {"AGENTIDP_REDIS_TIMEOUT_MS", "250"},
                           {"AGENTIDP_REDIS_KEY_PREFIX", "idp-prod:"},
                           {"AGENTIDP_DATABASE_POOL_SIZE", "16"},
                           {"AGENTIDP_DATABASE_ACQUIRE_TIMEOUT_MS", "1500"},
                           {"AGENTIDP_DATABASE_STATEMENT_TIMEOUT_MS", "3000"},
                           {"AGENTIDP_DATABASE_CONNECT_TIMEOUT_SECONDS", "3"}});
  ASSERT_TRUE(c.ok()) << c.error().message;
  EXPECT_EQ(c->redis_url, "redis://:pw@cache.internal:6380/2");
  EXPECT_EQ(c->redis_timeout_ms, 250);
  EXPECT_EQ(c->redis_key_prefix, "idp-prod:");
  EXPECT_EQ(c->database_pool_size, 16);
  EXPECT_EQ(c->database_acquire_timeout_ms, 1500);
  EXPECT_EQ(c->database_statement_timeout_ms, 3000);
  EXPECT_EQ(c->database_connect_timeout_seconds, 3);
  auto defaults = LoadConfig("", {});
  ASSERT_TRUE(defaults.ok());
  EXPECT_TRUE(defaults->redis_url.empty()) << "in-process shared state by default";
  EXPECT_EQ(defaults->redis_key_prefix, "agentidp:");
  EXPECT_EQ(defaults->database_pool_size, 8);

  auto env_wins =
      LoadConfig("", {{"REDIS_URL", "redis://a:6379"}, {"AGENTIDP_REDIS_URL", "redis://b:6379"}});
  ASSERT_TRUE(env_wins.ok());
  EXPECT_EQ(env_wins->redis_url, "redis://b:6379") << "AGENTIDP_REDIS_URL wins over REDIS_URL";

  auto tls = LoadConfig("", {{"REDIS_URL", "rediss://:secret@cache:6380"}});
  ASSERT_FALSE(tls.ok());
  EXPECT_NE(tls.error().message.find("REDIS_URL"), std::string::npos);
  EXPECT_EQ(tls.error().message.find("secret"), std::string::npos) << "never echoes the URL";
  EXPECT_FALSE(LoadConfig("", {{"AGENTIDP_REDIS_KEY_PREFIX", "bad prefix"}}).ok());
  EXPECT_FALSE(LoadConfig("", {{"AGENTIDP_REDIS_TIMEOUT_MS", "0"}}).ok());
  EXPECT_FALSE(LoadConfig("", {{"AGENTIDP_DATABASE_POOL_SIZE", "0"}}).ok());
  EXPECT_FALSE(LoadConfig("", {{"AGENTIDP_DATABASE_CONNECT_TIMEOUT_SECONDS", "1"}}).ok());
}

// Every setting is documented in docs/configuration.md.
TEST(Config, EveryKeyIsDocumented) {
  std::ifstream in(std::string(AGENTIDP_SOURCE_DIR) + "/docs/configuration.md");
  std::stringstream doc;
  doc << in.rdbuf();
  for (const auto& key : ConfigKeys())
    EXPECT_NE(doc.str().find("| `" + key + "` |"), std::string::npos) << key;
}

// The route table and docs/openapi.yaml list the same routes.
TEST(RouteTable, MatchesOpenApi) {
  std::ifstream in(std::string(AGENTIDP_SOURCE_DIR) + "/docs/openapi.yaml");
  ASSERT_TRUE(in.good());
  std::set<std::string> documented;
  std::string line, path;
  bool in_paths = false;
  while (std::getline(in, line)) {
    if (line == "paths:") {
      in_paths = true;
      continue;
    }
    if (in_paths && !line.empty() && line[0] != ' ' && line[0] != '#') in_paths = false;
    if (!in_paths) continue;
    if (line.size() > 3 && line.rfind("  /", 0) == 0 && line.back() == ':') {
      path = line.substr(2, line.size() - 3);
    } else if (line.rfind("    ", 0) == 0 && line.size() > 5 && line[4] != ' ') {
      std::string m = line.substr(4, line.find(':') - 4);
      if (m == "get" || m == "post" || m == "patch" || m == "put" || m == "delete") {
        for (auto& ch : m) ch = static_cast<char>(std::toupper(static_cast<unsigned char>(ch)));
        documented.insert(m + " " + path);
      }
    }
  }
  std::set<std::string> table;
  for (const auto& r : Api::Routes()) table.insert(r.method + " " + r.pattern);
  for (const auto& r : table)
    EXPECT_TRUE(documented.count(r)) << r << " is not in docs/openapi.yaml";
  for (const auto& d : documented)
    EXPECT_TRUE(table.count(d)) << d << " is documented but not routed";
  EXPECT_EQ(table.size(), documented.size());
}

}  // namespace
}  // namespace agentidp::app
