#include "app/runtime.hpp"

#include "app/api.hpp"
#include "app/cluster_sync.hpp"
#include "app/shared_state.hpp"
#include "cache/redis/redis_cluster_bus.hpp"
#include "core/clock.hpp"
#include "core/metrics.hpp"
#include "core/random.hpp"
#include "core/thread_pool.hpp"
#include "crypto/encoding.hpp"
#include "crypto/hash.hpp"
#include "domain/agents/agent_service.hpp"
#include "domain/audit/audit_log.hpp"
#include "domain/cluster.hpp"
#include "domain/did/did_service.hpp"
#include "domain/federation/issuer_keys.hpp"
#include "domain/federation/partners.hpp"
#include "domain/federation/workload_identity.hpp"
#include "domain/keys/keyring.hpp"
#include "domain/oauth/client_directory.hpp"
#include "domain/oauth/rate_limiter.hpp"
#include "domain/oauth/token_service.hpp"
#include "domain/orgs/org_service.hpp"
#include "domain/policy/policy.hpp"
#include "domain/tiers/daily_counters.hpp"
#include "domain/tiers/tiers.hpp"
#include "http/access_log.hpp"
#include "http/outbound_client.hpp"
#include "http/server.hpp"
#include "store/open_store.hpp"

#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>
#include <boost/json/serialize.hpp>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>
#include <condition_variable>
#include <csignal>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <sstream>
#include <thread>

namespace agentidp::app {

namespace fs = std::filesystem;

namespace {

// JSON-lines application log on stderr; the access log goes to stdout.
std::shared_ptr<spdlog::logger> MakeLogger(const Config& c) {
  auto log = spdlog::stderr_logger_mt("agentidp");
  log->set_pattern(R"({"ts":"%Y-%m-%dT%H:%M:%S.%eZ","level":"%l","msg":%v})",
                   spdlog::pattern_time_type::utc);
  log->set_level(spdlog::level::from_str(c.log_level));
  return log;
}

// Messages are passed as JSON string literals so the log stays one JSON object per line.
std::string Q(std::string_view s) {
  return boost::json::serialize(boost::json::string(s));
}

core::Status WriteFileAtomic(const fs::path& path, const std::string& content, mode_t mode) {
  fs::path tmp = path;
  tmp += ".tmp";
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
  if (fd < 0) return core::Error::Internal("cannot write " + path.string());
  ::fchmod(fd, mode);
  bool ok = ::write(fd, content.data(), content.size()) == static_cast<ssize_t>(content.size());
  ok = ok && ::fsync(fd) == 0;
  ::close(fd);
  if (!ok || ::rename(tmp.c_str(), path.c_str()) != 0)
    return core::Error::Internal("cannot write " + path.string());
  return core::Ok();
}

std::optional<std::string> ReadFile(const fs::path& path) {
  std::ifstream in(path);
  if (!in) return std::nullopt;
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// The master key: AGENTIDP_MASTER_KEY, or (embedded mode) <data_dir>/master.key, generated
// with mode 0600 on first start.
core::Result<std::string> LoadMasterKey(const Config& c) {
  if (!c.master_key.empty()) return domain::DecodeMasterKey(c.master_key);
  fs::path file = fs::path(c.data_dir) / "master.key";
  if (auto text = ReadFile(file)) {
    std::string t = *text;
    while (!t.empty() && (t.back() == '\n' || t.back() == '\r' || t.back() == ' ')) t.pop_back();
    struct stat st {};
    if (::stat(file.c_str(), &st) == 0 && (st.st_mode & 077) != 0)
      return core::Error::Validation(file.string() +
                                     " must not be readable by group or others (chmod 600)");
    return domain::DecodeMasterKey(t);
  }
  if (c.database_url.rfind("postgres", 0) == 0)
    return core::Error::Validation(
        "AGENTIDP_MASTER_KEY is required with an external database (every node needs the same "
        "key)");
  std::string key = crypto::HexEncode(crypto::RandomBytes(32));
  TRY(WriteFileAtomic(file, key + "\n", 0600));
  return domain::DecodeMasterKey(key);
}

core::Status PrepareDataDir(const Config& c) {
  std::error_code ec;
  fs::create_directories(c.data_dir, ec);
  if (ec)
    return core::Error::Validation("cannot create data_dir " + c.data_dir + ": " + ec.message());
  ::chmod(c.data_dir.c_str(), 0700);
  return core::Ok();
}

std::string StoreUrl(const Config& c) {
  return c.database_url.empty() ? (fs::path(c.data_dir) / "agentidp.db").string() : c.database_url;
}

store::StorePoolOptions PoolOptions(const Config& c) {
  store::StorePoolOptions o;
  o.pool_size = static_cast<size_t>(c.database_pool_size);
  o.acquire_timeout_ms = c.database_acquire_timeout_ms;
  o.statement_timeout_ms = c.database_statement_timeout_ms;
  o.connect_timeout_s = c.database_connect_timeout_seconds;
  return o;
}

// Shared-state transitions (Redis down, back) for the application log.
SharedStateLog SharedLog() {
  return [](bool warning, const std::string& message) {
    auto log = spdlog::get("agentidp");
    if (!log) return;
    if (warning)
      log->warn(Q(message));
    else
      log->info(Q(message));
  };
}

// Everything a command needs from the store side, built in dependency order.
struct Core {
  core::SystemClock clock;
  core::SecureRandom random;
  std::unique_ptr<domain::Store> store;
  std::string master_key;
  std::string system_org_id;
  std::unique_ptr<domain::AuditWriter> audit;
  std::unique_ptr<domain::Keyring> keyring;

  core::Status Open(const Config& c) {
    TRY(PrepareDataDir(c));
    TRY_ASSIGN(master_key, LoadMasterKey(c));
    TRY_ASSIGN(store, store::OpenStore(StoreUrl(c), PoolOptions(c), [](const std::string& detail) {
                 if (auto log = spdlog::get("agentidp")) log->error(Q("store: " + detail));
               }));
    TRY_ASSIGN(int version, store->Migrate());
    (void)version;
    TRY_ASSIGN(bool fresh, store->meta().PutIfAbsent("system_organization_id", random.UuidV4()));
    (void)fresh;
    TRY_ASSIGN(auto org_id, store->meta().Get("system_organization_id"));
    system_org_id = org_id.value_or("");
    audit = std::make_unique<domain::AuditWriter>(store->audit(), clock, random);
    domain::KeyringOptions ko;
    ko.alg = c.signing_alg;
    ko.activation_delay_s = c.key_activation_delay_seconds;
    ko.max_token_ttl_s = c.token_ttl_seconds;
    keyring = std::make_unique<domain::Keyring>(store->keys(), clock, master_key, ko);
    return keyring->Initialize();
  }
  std::string Pepper() const {
    return crypto::HmacSha256(master_key, "agentidp/client-secret-pepper/v1");
  }
};

core::Result<std::shared_ptr<const domain::Policy>> LoadPolicy(const Config& c) {
  std::string doc(domain::Policy::DefaultDocument());
  if (!c.policy_file.empty()) {
    auto text = ReadFile(c.policy_file);
    if (!text) return core::Error::Validation("cannot read policy file " + c.policy_file);
    doc = *text;
  }
  TRY_ASSIGN(domain::Policy p, domain::Policy::Parse(doc, Api::PolicyRouteIds()));
  return std::make_shared<const domain::Policy>(std::move(p));
}

int Fail(const std::string& what, const core::Error& e) {
  std::cerr << "agentidp: " << what << ": " << e.message << "\n";
  return 1;
}

}  // namespace

int Migrate(const Config& config) {
  if (auto st = PrepareDataDir(config); !st.ok()) return Fail("migrate", st.error());
  auto store = store::OpenStore(StoreUrl(config), PoolOptions(config), {});
  if (!store.ok()) return Fail("migrate", store.error());
  auto v = (*store)->Migrate();
  if (!v.ok()) return Fail("migrate", v.error());
  std::cout << "schema version " << *v << " (" << (*store)->BackendName() << ")\n";
  return 0;
}

int KeysList(const Config& config) {
  Core core;
  if (auto st = core.Open(config); !st.ok()) return Fail("keys list", st.error());
  auto keys = core.store->keys().List();
  if (!keys.ok()) return Fail("keys list", keys.error());
  auto snap = core.keyring->Snapshot();
  const int64_t now = core.clock.NowMs();
  std::printf("%-45s %-6s %-8s %-25s %-25s\n", "KID", "ALG", "STATE", "SIGNS FROM",
              "PUBLISHED UNTIL");
  for (const auto& k : *keys) {
    std::string state = snap->current && snap->current->record.kid == k.kid ? "signing"
                        : k.activates_at > now                              ? "staged"
                        : k.publish_until && *k.publish_until <= now        ? "expired"
                                                                            : "retired";
    std::printf("%-45s %-6s %-8s %-25s %-25s\n", k.kid.c_str(), k.alg.c_str(), state.c_str(),
                core::FormatIso8601(k.activates_at).c_str(),
                k.publish_until ? core::FormatIso8601(*k.publish_until).c_str() : "-");
  }
  core.audit->Shutdown();
  return 0;
}

int KeysRotate(const Config& config, const std::string& alg) {
  Core core;
  if (auto st = core.Open(config); !st.ok()) return Fail("keys rotate", st.error());
  auto kid = core.keyring->Rotate(alg);
  if (!kid.ok()) return Fail("keys rotate", kid.error());
  domain::AuditRecord rec;
  rec.organization_id = core.system_org_id;
  rec.action = "key.rotated";
  rec.user_agent = "agentidp-cli";
  boost::json::object meta;
  meta["kid"] = *kid;
  meta["alg"] = alg.empty() ? config.signing_alg : alg;
  meta["activatesAt"] =
      core::FormatIso8601(core.clock.NowMs() + int64_t{config.key_activation_delay_seconds} * 1000);
  rec.metadata_json = boost::json::serialize(meta);
  if (auto st = core.audit->Write(std::move(rec)); !st.ok()) return Fail("keys rotate", st.error());
  core.audit->Shutdown();
  std::cout << "staged key " << *kid << "; published now, signs from "
            << core::FormatIso8601(core.clock.NowMs() +
                                   int64_t{config.key_activation_delay_seconds} * 1000);
  // With Redis, running servers re-read the key set at once; otherwise (or if Redis cannot be
  // reached) at their next periodic refresh.
  bool announced = false;
  if (!config.redis_url.empty()) {
    if (auto options = RedisOptionsFrom(config, {}); options.ok()) {
      cache::redis::Client redis(std::move(options).value());
      announced = cache::redis::RedisClusterBus::PublishNow(redis, core.random.UuidV4(),
                                                            domain::topics::kKeys, "")
                      .ok();
    }
  }
  if (announced)
    std::cout << " (announced to running servers through Redis)\n";
  else
    std::cout << " (running servers pick it up within " << config.key_refresh_seconds << " s)\n";
  return 0;
}

int Serve(const Config& config) {
  // Signals are taken synchronously by this thread (sigwait); block them before any other
  // thread starts so every thread inherits the mask.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGHUP);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  std::signal(SIGPIPE, SIG_IGN);

  auto log = MakeLogger(config);
  Core core;
  if (auto st = core.Open(config); !st.ok()) return Fail("start-up", st.error());
  auto policy = LoadPolicy(config);
  if (!policy.ok()) return Fail("start-up", policy.error());

  domain::RevocationList revocations(core.store->revocations(), core.clock);
  if (auto st = revocations.Load(); !st.ok()) return Fail("start-up", st.error());
  domain::ClientDirectory clients(*core.store, core.clock);

  const unsigned cores = std::max(1u, std::thread::hardware_concurrency());
  const unsigned worker_count = config.worker_threads > 0 ? config.worker_threads : cores * 4;
  core::Metrics metrics;
  core.audit->AttachMetrics(
      &metrics.GetCounter("agentidp_audit_batches_total",
                          "Audit batches committed (one transaction each; DESIGN group commit)"),
      &metrics.GetCounter("agentidp_audit_events_total", "Audit events committed"));
  // The writer outlives `metrics`: it stops counting before they go.
  const std::unique_ptr<domain::AuditWriter, void (*)(domain::AuditWriter*)> detach_audit_metrics(
      core.audit.get(), [](domain::AuditWriter* w) { w->AttachMetrics(nullptr, nullptr); });
  core::ThreadPool workers(worker_count, static_cast<size_t>(config.max_queue), "agentidp-work");
  // Rate limits, replay cache and the cluster bus: in process, or in Redis (REDIS_URL).
  // In process, the organizations' daily counts (SPEC §8) are seeded from the store the first
  // time an organization is counted on a day, so a restart does not reset them.
  UsageSeeds seeds;
  seeds.tokens = [&core](const std::string& org, int64_t day) {
    return domain::CountTokenEventsOfDay(core.store->audit(), org, day);
  };
  seeds.api_calls = [&core](const std::string& org, int64_t day) {
    return domain::LoadDailyCount(core.store->meta(), "api", org, day);
  };
  auto shared = OpenSharedState(config, core.clock, core.random.UuidV4(), worker_count + 2,
                                SharedLog(), std::move(seeds));
  if (!shared.ok()) return Fail("start-up", shared.error());

  http::ServerOptions so;
  so.bind_address = config.bind;
  so.port = static_cast<uint16_t>(config.port);
  so.io_threads = config.io_threads > 0 ? config.io_threads : cores;
  so.max_body_bytes = config.max_body_bytes;
  so.header_timeout_ms = config.header_timeout_ms;
  so.idle_timeout_ms = config.idle_timeout_ms;
  so.max_connections = config.max_connections;
  so.tls_cert_file = config.tls_cert;
  so.tls_key_file = config.tls_key;
  so.access_log = config.access_log;
  auto proxies = http::TrustedProxies::Parse(config.trusted_proxies);
  if (!proxies.ok()) return Fail("configuration: trusted_proxies", proxies.error());
  so.trusted_proxies = std::move(*proxies);

  // The issuer depends on the bound port when not configured, so the API is built after
  // the listener binds; requests arriving in between get 503 from this forwarding shim.
  struct Late final : http::Application {
    std::atomic<http::Application*> target{nullptr};
    void Handle(http::Request req, http::Responder done) override {
      if (auto* t = target.load()) return t->Handle(std::move(req), std::move(done));
      http::Response r;
      r.status = 503;
      r.SetHeader("Retry-After", "1");
      r.body = R"({"code":"SERVICE_UNAVAILABLE","message":"Starting"})";
      done(std::move(r));
    }
  } late;
  // Access log on stdout, written by a background thread many lines at a time (a request
  // never waits on write(2)); flushed when the server is destroyed.
  auto access = std::make_shared<http::BufferedLineWriter>(STDOUT_FILENO);
  http::Server server(so, late, metrics, http::MakeBufferedAccessLogSink(access));
  auto port = server.Start();
  if (!port.ok())
    return Fail("listen on " + config.bind + ":" + std::to_string(config.port), port.error());

  const std::string issuer = config.EffectiveIssuer(*port);
  domain::TokenSettings ts;
  ts.issuer = issuer;
  ts.audience = config.EffectiveAudience(*port);
  ts.ttl_s = config.token_ttl_seconds;
  ts.leeway_s = config.jwt_leeway_seconds;
  ts.system_organization_id = core.system_org_id;
  ts.secret_pepper = core.Pepper();
  domain::TokenService tokens(clients, *core.keyring, revocations, core.clock, core.random, ts);
  domain::AgentService agents(*core.store, *core.audit, clients, core.clock, core.random,
                              core.Pepper(), core.system_org_id);
  domain::FailureThrottle throttle(core.clock, config.auth_failures_before_slowdown);

  // Single-use caches, outbound fetches, private_key_jwt and DPoP.
  domain::ReplayCache& replay = *(*shared)->replay_cache;
  http::OutboundOptions oo;
  oo.timeout = std::chrono::milliseconds(config.outbound_timeout_ms);
  oo.allow_private_addresses = config.outbound_allow_private;
  oo.ca_file = config.outbound_ca_file;
  if (config.outbound_allow_private)
    spdlog::get("agentidp")
        ->warn(
            "outbound_allow_private is on: JWKS may be fetched from loopback and private "
            "addresses (tests only)");
  http::OutboundClient outbound(oo);
  domain::RemoteKeySets remote_keys(&outbound, core.clock);
  domain::AssertionSettings as;
  as.issuer = issuer;
  as.leeway_s = config.jwt_leeway_seconds;
  as.max_lifetime_s = config.client_assertion_max_lifetime_seconds;
  domain::ClientAssertionVerifier assertions(clients, remote_keys, replay, core.clock, as);
  domain::DpopSettings ds;
  ds.leeway_s = config.jwt_leeway_seconds;
  ds.max_age_s = config.dpop_proof_max_age_seconds;
  ds.require_nonce = config.dpop_nonce;
  ds.nonce_key = crypto::HmacSha256(core.master_key, "agentidp/dpop-nonce/v1");
  domain::DpopVerifier dpop(replay, core.clock, ds);
  domain::DelegationService delegations(*core.store, *core.audit, tokens, revocations, core.clock,
                                        core.random);

  // First start on an empty store: bootstrap admin, credentials written once (0600).
  const fs::path bootstrap_file = fs::path(config.data_dir) / "bootstrap-admin.json";
  auto done_flag = core.store->meta().Get("bootstrap_done");
  if (!done_flag.ok()) return Fail("start-up", done_flag.error());
  if (!*done_flag) {
    auto admin = agents.Bootstrap(config.bootstrap_admin_email);
    if (!admin.ok() && admin.error().kind == core::Errc::kConflict) {
      // Nodes started at once on an empty shared store: another one is bootstrapping (its
      // system organization or admin exists already). Serve once it has finished; the
      // credentials are in that node's data directory.
      for (int i = 0; i < 150 && !*done_flag; ++i) {
        std::this_thread::sleep_for(std::chrono::milliseconds(200));
        done_flag = core.store->meta().Get("bootstrap_done");
        if (!done_flag.ok()) return Fail("start-up", done_flag.error());
      }
      if (!*done_flag) return Fail("bootstrap", admin.error());
    } else {
      if (!admin.ok()) return Fail("bootstrap", admin.error());
      boost::json::object o;
      o["client_id"] = admin->credential.agent_id;
      o["client_secret"] = admin->client_secret;
      o["organization_id"] = core.system_org_id;
      o["issuer"] = issuer;
      o["token_endpoint"] = issuer + "/api/v1/token";
      if (auto st = WriteFileAtomic(bootstrap_file, boost::json::serialize(o) + "\n", 0600);
          !st.ok())
        return Fail("bootstrap", st.error());
      if (auto st =
              core.store->meta().Put("bootstrap_done", core::FormatIso8601(core.clock.NowMs()));
          !st.ok())
        return Fail("bootstrap", st.error());
    }
  }

  Services services;
  services.config = &config;
  services.issuer = issuer;
  services.audience = ts.audience;
  services.did_base = domain::DidWebFromUrl(issuer);
  services.store = core.store.get();
  services.audit = core.audit.get();
  services.keyring = core.keyring.get();
  services.tokens = &tokens;
  services.clients = &clients;
  services.agents = &agents;
  services.token_limiter = (*shared)->token_limiter.get();
  services.api_limiter = (*shared)->api_limiter.get();
  services.verify_limiter = (*shared)->verify_limiter.get();
  services.replay_cache = (*shared)->replay_cache.get();
  services.shared_state_probe = (*shared)->probe;
  services.auth_throttle = &throttle;
  services.assertions = &assertions;
  services.dpop = &dpop;
  services.delegations = &delegations;
  services.metrics = &metrics;
  services.workers = &workers;
  services.clock = &core.clock;
  domain::OrgService orgs(*core.store, *core.audit, clients, core.clock, core.random,
                          core.system_org_id);
  domain::DidSettings did_settings;
  did_settings.issuer = issuer;
  did_settings.did_base = services.did_base;
  domain::DidService dids(core.store->agent_keys(), core.clock, core.master_key, did_settings);
  services.orgs = &orgs;
  services.dids = &dids;
  // Workload identity federation (SPEC §6) and federation partners: keys fetched through the
  // guarded outbound client, external tokens single-use in the replay cache.
  domain::IssuerKeys issuer_keys(&outbound, remote_keys, core.clock);
  domain::FederationSettings fs;
  fs.our_issuer = issuer;
  fs.github_issuer = config.federation_github_issuer;
  fs.gitlab_issuer = config.federation_gitlab_issuer;
  fs.leeway_s = config.jwt_leeway_seconds;
  domain::WorkloadIdentity workload(*core.store, clients, tokens, issuer_keys, replay, core.clock,
                                    core.random, fs);
  domain::FederationPartners partners(*core.store, remote_keys, core.clock, core.random, issuer,
                                      config.jwt_leeway_seconds);
  // Tokens exchanged for a partner's subject live while the partner trusts their organization.
  tokens.SetPartnerTrustCheck([&partners](const std::string& partner_id,
                                          const std::string& organization_id, bool may_load) {
    return partners.Trusts(partner_id, organization_id, may_load);
  });
  services.workload = &workload;
  services.partners = &partners;
  // Usage tiers (SPEC §8): daily limits per plan tier, the organizations' tiers in memory.
  auto tier_table = domain::TierTable::Parse(config.tier_limits);
  if (!tier_table.ok()) return Fail("start-up", tier_table.error());
  domain::OrgTiers org_tiers(core.store->orgs(), core.clock, core.system_org_id);
  services.tier_table = &*tier_table;
  services.org_tiers = &org_tiers;
  Api api(services);
  api.SetPolicy(*policy);
  auto reload_policy = [&config, &api, &log](const char* why) {
    auto reloaded = LoadPolicy(config);
    if (reloaded.ok()) {
      api.SetPolicy(*reloaded);
      log->info(Q(std::string("policy reloaded (") + why + ")"));
      return true;
    }
    log->error(Q(std::string("policy reload refused, keeping the current policy (") + why +
                 "): " + reloaded.error().message));
    return false;
  };
  // Cache invalidation and revocation fan-out between nodes (a no-op bus on one node).
  ClusterSync::Targets sync_targets;
  sync_targets.clients = &clients;
  sync_targets.revocations = &revocations;
  sync_targets.keyring = core.keyring.get();
  sync_targets.partners = &partners;
  sync_targets.org_tiers = &org_tiers;
  sync_targets.reload_policy = [&reload_policy] { reload_policy("another node reloaded"); };
  ClusterSync cluster_sync(*(*shared)->bus, std::move(sync_targets), core.clock, SharedLog());
  cluster_sync.Start();
  late.target = &api;

  // Background upkeep: send the shared limiters' counts (every second), pick up keys rotated
  // elsewhere, forget expired revocations, apply audit retention.
  std::mutex upkeep_mu;
  std::condition_variable upkeep_cv;
  bool stopping = false;
  // In process, API-call counts are persisted in batches (token issuances need not be: the
  // audit log has them); at most one upkeep period of counts is lost by a crash.
  auto save_api_counts = [&] {
    if (!(*shared)->api_counts) return;
    auto changed = (*shared)->api_counts->DrainChanged();
    if (changed.empty()) return;
    if (auto st = domain::SaveDailyCounts(core.store->meta(), "api", changed); !st.ok())
      log->warn(Q("saving the daily API-call counts failed: " + st.error().message));
  };
  // Shared (Redis) limiters count unlimited daily quotas ahead in memory and send them at
  // least once a second (docs/decisions.md "Shared rate limits: exact near the limit, leased
  // far from it"): a crash loses at most about a second of those counts.
  auto flush_limiters = [&] {
    services.token_limiter->Flush();
    services.api_limiter->Flush();
    services.verify_limiter->Flush();
  };
  std::thread upkeep([&] {
    int64_t last_sweep = 0, last_retention = 0, last_refresh = core.clock.NowMs();
    std::unique_lock lock(upkeep_mu);
    while (!stopping) {
      upkeep_cv.wait_for(lock, std::chrono::seconds(1));
      if (stopping) break;
      lock.unlock();
      flush_limiters();
      const int64_t now = core.clock.NowMs();
      // Every key_refresh_seconds (ticks of about a second: half a tick of tolerance).
      if (now - last_refresh + 500 < int64_t{config.key_refresh_seconds} * 1000) {
        lock.lock();
        continue;
      }
      last_refresh = now;
      if (auto st = core.keyring->Refresh(); !st.ok())
        log->warn(Q("key refresh failed: " + st.error().message));
      save_api_counts();
      if (now - last_sweep > 60'000) {
        revocations.Sweep();
        last_sweep = now;
      }
      if (now - last_retention > 3'600'000) {
        auto purged = domain::ApplyAuditRetention(core.store->audit(), core.clock,
                                                  config.audit_retention_days);
        if (purged.ok() && *purged > 0)
          log->info(Q("audit retention purged " + std::to_string(*purged) + " events"));
        last_retention = now;
      }
      lock.lock();
    }
  });

  std::string host = config.bind == "0.0.0.0" ? "127.0.0.1"
                     : config.bind == "::"    ? "::1"
                                              : config.bind;
  if (host.find(':') != std::string::npos) host = "[" + host + "]";
  const std::string url = std::string(config.tls_cert.empty() ? "http" : "https") + "://" + host +
                          ":" + std::to_string(*port);
  {
    boost::json::object l;
    l["url"] = url;
    l["port"] = *port;
    l["pid"] = static_cast<int64_t>(::getpid());
    l["issuer"] = issuer;
    (void)WriteFileAtomic(fs::path(config.data_dir) / "listening.json",
                          boost::json::serialize(l) + "\n", 0644);
  }
  log->info(Q("listening on " + url + " issuer " + issuer + " store " + core.store->BackendName() +
              " shared state " + (*shared)->backend));
  std::cerr << "\nAgentIdP is running at " << url << "\n"
            << "  issuer:          " << issuer << "\n"
            << "  bootstrap admin: " << fs::absolute(bootstrap_file).string()
            << " (client_id and client_secret, readable only by you)\n"
            << "  stop with Ctrl-C\n\n";

  for (;;) {
    int sig = 0;
    sigwait(&signals, &sig);
    if (sig == SIGHUP) {
      if (reload_policy("SIGHUP")) cluster_sync.PolicyReloaded();
      continue;
    }
    break;
  }
  log->info(Q("shutting down"));
  server.Stop(std::chrono::seconds(10));
  workers.Shutdown();
  cluster_sync.Stop();
  {
    std::lock_guard lock(upkeep_mu);
    stopping = true;
  }
  upkeep_cv.notify_all();
  upkeep.join();
  flush_limiters();
  save_api_counts();
  core.audit->Shutdown();
  std::error_code ec;
  fs::remove(fs::path(config.data_dir) / "listening.json", ec);
  log->info(Q("stopped"));
  return 0;
}

}  // namespace agentidp::app
