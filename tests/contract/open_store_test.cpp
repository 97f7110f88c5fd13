// The DATABASE_URL factory's PostgreSQL side that needs no server: malformed URLs are
// configuration errors, an unreachable server is an outage. Neither leaks the password.

#include "store/open_store.hpp"
#include "contract/fixtures.hpp"

#include <chrono>

namespace agentidp::contract {
namespace {

TEST(OpenStorePostgres, MalformedUrlIsValidationWithoutEchoingIt) {
  for (const std::string url :
       {"postgresql://u:hunter2@[::1/db", "postgres://u:hunter2@h/db?bogus_option=1"}) {
    auto opened = store::OpenStore(url);
    ASSERT_FALSE(opened.ok()) << url;
    EXPECT_EQ(opened.error().kind, core::Errc::kValidation) << url;
    EXPECT_EQ(opened.error().message.find("hunter2"), std::string::npos);
  }
}

TEST(OpenStorePostgres, UnreachableServerIsUnavailableAndLogged) {
  std::string detail;
  // Port 1 on loopback: nothing listens, the connection is refused at once.
  const auto before = std::chrono::steady_clock::now();
  auto opened = store::OpenStore("postgres://agentidp:hunter2@127.0.0.1:1/agentidp",
                                 [&](const std::string& d) { detail = d; });
  ASSERT_FALSE(opened.ok());
  EXPECT_EQ(opened.error().kind, core::Errc::kUnavailable);
  EXPECT_EQ(opened.error().retry_after, 1);
  EXPECT_EQ(opened.error().message.find("hunter2"), std::string::npos);
  EXPECT_NE(detail.find("postgres: connect"), std::string::npos) << detail;
  EXPECT_EQ(detail.find("hunter2"), std::string::npos) << detail;
  EXPECT_LT(std::chrono::steady_clock::now() - before, std::chrono::seconds(5));
}

}  // namespace
}  // namespace agentidp::contract
