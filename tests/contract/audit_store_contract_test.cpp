#include "contract/backends.hpp"
#include "contract/fixtures.hpp"

#include <atomic>
#include <functional>
#include <thread>

namespace agentidp::contract {
namespace {

AGENTIDP_CONTRACT_SUITE(AuditStoreContract);

std::vector<domain::AuditEvent> Batch(const std::string& prefix, int count, int64_t timestamp) {
  std::vector<domain::AuditEvent> events;
  for (int i = 0; i < count; ++i) {
    events.push_back(MakeEvent(prefix + "-" + std::to_string(i), timestamp + i));
  }
  return events;
}

std::vector<std::string> EventIds(const std::vector<domain::AuditEvent>& events) {
  std::vector<std::string> ids;
  for (const auto& ev : events) ids.push_back(ev.event_id);
  return ids;
}

TEST_P(AuditStoreContract, FreshChainHasEmptyAnchorAndNoEvents) {
  ASSERT_OK_AND_ASSIGN(auto anchor, store().audit().ChainAnchor());
  EXPECT_EQ(anchor, "");
  EXPECT_TRUE(ScanAll(store().audit()).empty());
}

TEST_P(AuditStoreContract, AppendBatchChainsWithinAndAcrossBatches) {
  auto first = Batch("b1", 3, kT0);
  ASSERT_OK(store().audit().AppendBatch(first, kTestHasher));
  auto second = Batch("b2", 2, kT0 + 100);
  ASSERT_OK(store().audit().AppendBatch(second, kTestHasher));

  EXPECT_EQ(first[0].previous_hash, "");
  for (size_t i = 1; i < first.size(); ++i) EXPECT_EQ(first[i].previous_hash, first[i - 1].hash);
  EXPECT_EQ(second[0].previous_hash, first.back().hash);
  EXPECT_EQ(second[1].previous_hash, second[0].hash);
  for (const auto& batch : {first, second}) {
    for (const auto& ev : batch) EXPECT_EQ(ev.hash, TestHash(ev)) << ev.event_id;
  }
  EXPECT_LT(first.back().seq, second.front().seq);

  auto stored = ScanAll(store().audit());
  ASSERT_EQ(stored.size(), 5u);
  ExpectUnbrokenChain(stored, "");
  EXPECT_EQ(EventIds(stored), (std::vector<std::string>{"b1-0", "b1-1", "b1-2", "b2-0", "b2-1"}));
  // What AppendBatch handed back is what was stored.
  EXPECT_EQ(Tie(stored[3]), Tie(second[0]));
}

TEST_P(AuditStoreContract, EmptyBatchIsANoOp) {
  std::vector<domain::AuditEvent> none;
  ASSERT_OK(store().audit().AppendBatch(none, kTestHasher));
  EXPECT_TRUE(ScanAll(store().audit()).empty());
}

TEST_P(AuditStoreContract, FailedBatchWritesNothingAndKeepsTheHead) {
  auto first = Batch("b1", 2, kT0);
  ASSERT_OK(store().audit().AppendBatch(first, kTestHasher));
  auto bad = Batch("b2", 3, kT0 + 10);
  bad[2].event_id = "b1-0";  // duplicate event id
  auto appended = store().audit().AppendBatch(bad, kTestHasher);
  ASSERT_FALSE(appended.ok());
  EXPECT_EQ(appended.error().kind, core::Errc::kConflict);
  EXPECT_EQ(ScanAll(store().audit()).size(), 2u);

  auto next = Batch("b3", 1, kT0 + 20);
  ASSERT_OK(store().audit().AppendBatch(next, kTestHasher));
  EXPECT_EQ(next[0].previous_hash, first.back().hash);
}

// Batches of every shape (a backend may insert a batch in several statements): what
// AppendBatch hands back, positions included, is exactly what was stored.
TEST_P(AuditStoreContract, AppendBatchHandsBackStoredEventsForAnyBatchSize) {
  std::vector<domain::AuditEvent> appended;
  int64_t t = kT0;
  for (int n : {1, 2, 3, 37, 64, 65, 130}) {
    auto batch = Batch("n" + std::to_string(n), n, t);
    t += 1000;
    ASSERT_OK(store().audit().AppendBatch(batch, kTestHasher));
    for (size_t i = 1; i < batch.size(); ++i) EXPECT_EQ(batch[i].seq, batch[i - 1].seq + 1) << n;
    appended.insert(appended.end(), batch.begin(), batch.end());
  }
  auto stored = ScanAll(store().audit());
  ASSERT_EQ(stored.size(), appended.size());
  ExpectUnbrokenChain(stored, "");
  for (size_t i = 0; i < stored.size(); ++i) EXPECT_EQ(Tie(stored[i]), Tie(appended[i])) << i;
}

TEST_P(AuditStoreContract, FailureLateInALargeBatchWritesNothing) {
  auto first = Batch("b1", 2, kT0);
  ASSERT_OK(store().audit().AppendBatch(first, kTestHasher));
  auto bad = Batch("b2", 70, kT0 + 10);
  bad.back().event_id = "b1-1";  // duplicate event id in the batch's last row
  ASSERT_FALSE(store().audit().AppendBatch(bad, kTestHasher).ok());
  EXPECT_EQ(ScanAll(store().audit()).size(), 2u);
  for (const auto& ev : bad) EXPECT_EQ(ev.seq, 0);

  auto next = Batch("b3", 5, kT0 + 20);
  ASSERT_OK(store().audit().AppendBatch(next, kTestHasher));
  EXPECT_EQ(next[0].previous_hash, first.back().hash);
}

TEST_P(AuditStoreContract, GetRoundTripsEveryField) {
  auto events = Batch("e", 2, kT0);
  events[1].agent_id = "";
  events[1].outcome = "failure";
  events[1].action = "auth.failed";
  events[1].metadata_json = R"({"reason":"bad secret","n":[1,2]})";
  events[1].ip_address = "2001:db8::1";
  events[1].user_agent = "curl/8.0 \"quoted\"";
  ASSERT_OK(store().audit().AppendBatch(events, kTestHasher));
  ASSERT_OK_AND_ASSIGN(auto got, store().audit().Get(TestScope(), "e-1"));
  ASSERT_TRUE(got.has_value());
  EXPECT_EQ(Tie(*got), Tie(events[1]));
  ASSERT_OK_AND_ASSIGN(auto missing, store().audit().Get(TestScope(), "nope"));
  EXPECT_FALSE(missing.has_value());
}

// A backend may ship a batch as array literals (PostgreSQL): text that such literals quote or
// escape, and text that would read as NULL unquoted, comes back byte for byte, in every row
// of a batch.
TEST_P(AuditStoreContract, TextThatArrayLiteralsEscapeRoundTripsInABatch) {
  auto events = Batch("esc", 4, kT0);
  events[0].event_id = "esc-\"quoted\"";
  events[0].user_agent = R"(agent\1.0 "x", {y} NULL)";
  events[0].metadata_json = R"({"a":"b\"c\\d","e":["{","}",","],"f":null})";
  events[1].agent_id = "NULL";
  events[1].organization_id = "";
  events[1].ip_address = "";
  events[1].user_agent = "";
  events[2].user_agent = "trailing backslash \\";
  events[2].metadata_json = R"({"unicode":"été ✓","tab":"\t"})";
  events[3].agent_id = " spaced ";
  events[3].user_agent = "{}";
  ASSERT_OK(store().audit().AppendBatch(events, kTestHasher));
  auto stored = ScanAll(store().audit());
  ASSERT_EQ(stored.size(), events.size());
  ExpectUnbrokenChain(stored, "");
  for (size_t i = 0; i < stored.size(); ++i) EXPECT_EQ(Tie(stored[i]), Tie(events[i])) << i;
}

TEST_P(AuditStoreContract, ListFiltersNewestFirstWithTotals) {
  std::vector<domain::AuditEvent> events = {
      MakeEvent("e1", kT0 + 1, "agent.created", "a-1", "org-1"),
      MakeEvent("e2", kT0 + 2, "token.issued", "a-1", "org-1"),
      MakeEvent("e3", kT0 + 3, "token.issued", "a-2", "org-1", "failure"),
      MakeEvent("e4", kT0 + 4, "auth.failed", "", "org-2", "failure"),
      MakeEvent("e5", kT0 + 5, "token.issued", "a-3", "org-2"),
  };
  ASSERT_OK(store().audit().AppendBatch(events, kTestHasher));

  auto list = [&](const std::function<void(domain::AuditFilter&)>& set_filter,
                  domain::Page page = {1, 20}) {
    domain::AuditFilter filter;
    set_filter(filter);
    auto result = store().audit().List(TestScope(), filter, page);
    EXPECT_TRUE(result.ok());
    return result.ok() ? std::make_pair(EventIds(result->data), result->total)
                       : std::make_pair(std::vector<std::string>{}, int64_t{-1});
  };
  using Ids = std::vector<std::string>;
  EXPECT_EQ(list([](auto&) {}), std::make_pair(Ids{"e5", "e4", "e3", "e2", "e1"}, int64_t{5}));
  EXPECT_EQ(list([](auto& f) { f.organization_id = "org-2"; }),
            std::make_pair(Ids{"e5", "e4"}, int64_t{2}));
  EXPECT_EQ(list([](auto& f) { f.agent_id = "a-1"; }), std::make_pair(Ids{"e2", "e1"}, int64_t{2}));
  EXPECT_EQ(list([](auto& f) { f.action = "token.issued"; }),
            std::make_pair(Ids{"e5", "e3", "e2"}, int64_t{3}));
  EXPECT_EQ(list([](auto& f) { f.outcome = "failure"; }),
            std::make_pair(Ids{"e4", "e3"}, int64_t{2}));
  EXPECT_EQ(list([](auto& f) {
              f.from_ms = kT0 + 2;
              f.to_ms = kT0 + 4;
            }),
            std::make_pair(Ids{"e4", "e3", "e2"}, int64_t{3}));
  EXPECT_EQ(list([](auto& f) { f.from_ms = kT0 + 4; }),
            std::make_pair(Ids{"e5", "e4"}, int64_t{2}));
  EXPECT_EQ(list([](auto& f) { f.to_ms = kT0 + 1; }), std::make_pair(Ids{"e1"}, int64_t{1}));
  EXPECT_EQ(list([](auto& f) {
              f.organization_id = "org-1";
              f.action = "token.issued";
              f.outcome = "success";
            }),
            std::make_pair(Ids{"e2"}, int64_t{1}));
  EXPECT_EQ(list([](auto&) {}, {2, 2}), std::make_pair(Ids{"e3", "e2"}, int64_t{5}));
  EXPECT_EQ(list([](auto&) {}, {3, 2}), std::make_pair(Ids{"e1"}, int64_t{5}));
  EXPECT_EQ(list([](auto& f) { f.agent_id = "nobody"; }), std::make_pair(Ids{}, int64_t{0}));
}

TEST_P(AuditStoreContract, ScanVisitsChainOrderWithinInclusiveBounds) {
  auto events = Batch("e", 10, kT0);  // timestamps kT0 .. kT0+9
  ASSERT_OK(store().audit().AppendBatch(events, kTestHasher));
  std::vector<std::string> seen;
  ASSERT_OK(store().audit().Scan(kT0 + 2, kT0 + 5, [&](const domain::AuditEvent& ev) {
    seen.push_back(ev.event_id);
    return true;
  }));
  EXPECT_EQ(seen, (std::vector<std::string>{"e-2", "e-3", "e-4", "e-5"}));

  seen.clear();
  ASSERT_OK(store().audit().Scan(kT0 + 8, std::nullopt, [&](const domain::AuditEvent& ev) {
    seen.push_back(ev.event_id);
    return true;
  }));
  EXPECT_EQ(seen, (std::vector<std::string>{"e-8", "e-9"}));

  seen.clear();
  ASSERT_OK(store().audit().Scan(std::nullopt, kT0 + 1, [&](const domain::AuditEvent& ev) {
    seen.push_back(ev.event_id);
    return true;
  }));
  EXPECT_EQ(seen, (std::vector<std::string>{"e-0", "e-1"}));
}

TEST_P(AuditStoreContract, ScanStopsWhenTheVisitorSaysSo) {
  auto events = Batch("e", 10, kT0);
  ASSERT_OK(store().audit().AppendBatch(events, kTestHasher));
  int visited = 0;
  ASSERT_OK(store().audit().Scan(std::nullopt, std::nullopt,
                                 [&](const domain::AuditEvent&) { return ++visited < 3; }));
  EXPECT_EQ(visited, 3);
}

TEST_P(AuditStoreContract, ScanCoversLongChains) {
  for (int b = 0; b < 5; ++b) {
    auto batch = Batch("b" + std::to_string(b), 300, kT0 + b * 1000);
    ASSERT_OK(store().audit().AppendBatch(batch, kTestHasher));
  }
  auto chain = ScanAll(store().audit());
  ASSERT_EQ(chain.size(), 1500u);
  ExpectUnbrokenChain(chain, "");
}

TEST_P(AuditStoreContract, PurgeBeforeDeletesOldEventsAndAnchorsTheRest) {
  auto events = Batch("e", 6, kT0);  // kT0 .. kT0+5
  ASSERT_OK(store().audit().AppendBatch(events, kTestHasher));

  ASSERT_OK_AND_ASSIGN(int64_t purged, store().audit().PurgeBefore(kT0 + 3));
  EXPECT_EQ(purged, 3);
  ASSERT_OK_AND_ASSIGN(auto anchor, store().audit().ChainAnchor());
  EXPECT_EQ(anchor, events[2].hash);

  auto survivors = ScanAll(store().audit());
  EXPECT_EQ(EventIds(survivors), (std::vector<std::string>{"e-3", "e-4", "e-5"}));
  ExpectUnbrokenChain(survivors, anchor);
  ASSERT_OK_AND_ASSIGN(auto gone, store().audit().Get(TestScope(), "e-0"));
  EXPECT_FALSE(gone.has_value());

  // Nothing older left: a second purge is a no-op and keeps the anchor.
  ASSERT_OK_AND_ASSIGN(purged, store().audit().PurgeBefore(kT0 + 3));
  EXPECT_EQ(purged, 0);
  ASSERT_OK_AND_ASSIGN(auto same_anchor, store().audit().ChainAnchor());
  EXPECT_EQ(same_anchor, anchor);

  // Appends keep extending the surviving chain.
  auto more = Batch("m", 2, kT0 + 10);
  ASSERT_OK(store().audit().AppendBatch(more, kTestHasher));
  EXPECT_EQ(more[0].previous_hash, events[5].hash);
  ExpectUnbrokenChain(ScanAll(store().audit()), anchor);
}

TEST_P(AuditStoreContract, PurgingEverythingLeavesTheAnchorAsHead) {
  auto events = Batch("e", 3, kT0);
  ASSERT_OK(store().audit().AppendBatch(events, kTestHasher));
  ASSERT_OK_AND_ASSIGN(int64_t purged, store().audit().PurgeBefore(kT0 + 1000));
  EXPECT_EQ(purged, 3);
  EXPECT_TRUE(ScanAll(store().audit()).empty());
  ASSERT_OK_AND_ASSIGN(auto anchor, store().audit().ChainAnchor());
  EXPECT_EQ(anchor, events.back().hash);

  auto next = Batch("n", 2, kT0 + 2000);
  ASSERT_OK(store().audit().AppendBatch(next, kTestHasher));
  EXPECT_EQ(next[0].previous_hash, anchor);
  EXPECT_GT(next[0].seq, events.back().seq);  // positions are never reused
  ExpectUnbrokenChain(ScanAll(store().audit()), anchor);
}

TEST_P(AuditStoreContract, PurgeKeepsTheSurvivingChainContiguousUnderClockSkew) {
  // A writer with a slow clock appended an older timestamp after a newer one.
  std::vector<domain::AuditEvent> events = {MakeEvent("e0", kT0), MakeEvent("e1", kT0 + 50),
                                            MakeEvent("e2", kT0 + 10), MakeEvent("e3", kT0 + 60)};
  ASSERT_OK(store().audit().AppendBatch(events, kTestHasher));
  ASSERT_OK_AND_ASSIGN(int64_t purged, store().audit().PurgeBefore(kT0 + 20));
  EXPECT_EQ(purged, 1);  // e2 is old too, but removing it would cut the chain after e1
  ASSERT_OK_AND_ASSIGN(auto anchor, store().audit().ChainAnchor());
  auto survivors = ScanAll(store().audit());
  EXPECT_EQ(EventIds(survivors), (std::vector<std::string>{"e1", "e2", "e3"}));
  ExpectUnbrokenChain(survivors, anchor);
}

TEST_P(AuditStoreContract, ConcurrentAppendersFormOneUnbrokenChain) {
  constexpr int kThreads = 4;
  constexpr int kBatchesPerThread = 25;
  constexpr int kEventsPerBatch = 4;
  std::atomic<int> failures{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int b = 0; b < kBatchesPerThread; ++b) {
        auto batch =
            Batch("t" + std::to_string(t) + "b" + std::to_string(b), kEventsPerBatch, kT0 + b);
        if (!store().audit().AppendBatch(batch, kTestHasher).ok()) ++failures;
      }
    });
  }
  for (auto& thread : threads) thread.join();
  EXPECT_EQ(failures.load(), 0);

  auto chain = ScanAll(store().audit());
  ASSERT_EQ(chain.size(), static_cast<size_t>(kThreads * kBatchesPerThread * kEventsPerBatch));
  ExpectUnbrokenChain(chain, "");
}

TEST_P(AuditStoreContract, TwoHandlesAppendingAlternatelyKeepOneChain) {
  auto other = ConnectAnother();
  ASSERT_NE(other, nullptr);
  for (int i = 0; i < 20; ++i) {
    domain::Store& writer = i % 2 == 0 ? store() : *other;
    auto batch = Batch("h" + std::to_string(i), 3, kT0 + i * 10);
    ASSERT_OK(writer.audit().AppendBatch(batch, kTestHasher));
  }
  auto seen_here = ScanAll(store().audit());
  auto seen_there = ScanAll(other->audit());
  ASSERT_EQ(seen_here.size(), 60u);
  ExpectUnbrokenChain(seen_here, "");
  EXPECT_EQ(EventIds(seen_here), EventIds(seen_there));
}

TEST_P(AuditStoreContract, TwoHandlesAppendingConcurrentlyKeepOneChain) {
  auto other = ConnectAnother();
  ASSERT_NE(other, nullptr);
  std::atomic<int> failures{0};
  auto append = [&](domain::Store& writer, const std::string& name) {
    for (int b = 0; b < 20; ++b) {
      auto batch = Batch(name + std::to_string(b), 3, kT0 + b);
      if (!writer.audit().AppendBatch(batch, kTestHasher).ok()) ++failures;
    }
  };
  std::thread a(append, std::ref(store()), "x");
  std::thread b(append, std::ref(*other), "y");
  a.join();
  b.join();
  EXPECT_EQ(failures.load(), 0);
  auto chain = ScanAll(store().audit());
  ASSERT_EQ(chain.size(), 120u);
  ExpectUnbrokenChain(chain, "");
}

}  // namespace
}  // namespace agentidp::contract
