// `ordo`: one binary, with subcommands (DESIGN §8).
//   ordo serve --data-dir DIR --listen HOST:PORT [--partitions N] ...
//   ordo token --sub S --role R [--tier vip] [--ttl 1h] [--jwt-secret-file F | --data-dir DIR]
#include <signal.h>
#include <fmt/core.h>
#include <sys/resource.h>
#include <sys/statvfs.h>

#include <algorithm>
#include <cstdio>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <random>
#include <span>

#include "api/app.hpp"
#include "api/cli_args.hpp"
#include "api/cli_usage.hpp"
#include "api/secrets.hpp"
#include "engine/runtime/flow_manager.hpp"
#include "api/server.hpp"
#include "projections/queries.hpp"
#include "projections/runner.hpp"
#include "replay/replay_main.hpp"

namespace {

using namespace ordo;
using namespace ordo::api;

int usage() {
  std::fwrite(kUsage.data(), 1, kUsage.size(), stderr);
  return 2;
}

// "2026-12-07T14:03:00Z", for messages to the operator.
std::string utc_text(int64_t ms) {
  const time_t s = static_cast<time_t>(ms / 1000);
  std::tm tm{};
  gmtime_r(&s, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

std::optional<std::string> secret_path(const Args& args) {
  if (auto f = args.get("jwt-secret-file")) return f;
  if (auto d = args.get("data-dir")) return *d + "/jwt.secret";
  return std::nullopt;
}

// The token secret: a file named with --jwt-secret-file must exist (a typo would otherwise
// make a fresh secret that no token or server shares); the data directory's own jwt.secret
// is made on first use.
Result<std::string> token_secret(const Args& args) {
  if (auto f = args.get("jwt-secret-file")) return read_secret_file(*f);
  return read_or_create_secret_file(*secret_path(args));
}

// Refuses a flag the command does not take, with exit status 2 (0: all known).
int refuse_unknown(const Args& args, const char* command, std::span<const std::string_view> known) {
  const std::string name = args.unknown(known);
  if (name.empty()) return 0;
  std::fprintf(stderr, "ordo %s: unknown option --%s\n", command, name.c_str());
  return 2;
}

int cmd_token(const Args& args) {
  if (int bad = refuse_unknown(args, "token", kTokenFlags)) return bad;
  auto sub = args.get("sub");
  auto role_name = args.get("role");
  if (!sub || !role_name) return usage();
  if (!is_valid_id(*sub)) {
    std::fprintf(stderr, "ordo token: --sub must be 1..64 characters of [A-Za-z0-9._:-]\n");
    return 2;
  }
  auto role = parse_role(*role_name);
  if (!role) {
    std::fprintf(stderr, "ordo token: unknown role %s\n", role_name->c_str());
    return 2;
  }
  auto ttl_ms = parse_duration_ms(args.get_or("ttl", "1h"));
  if (!ttl_ms || *ttl_ms < 1000) {
    std::fprintf(stderr, "ordo token: bad --ttl (a duration of at least 1s, like 1h)\n");
    return 2;
  }
  if (auto tier = args.get("tier"); tier && *tier != "vip" && *tier != "standard") {
    std::fprintf(stderr, "ordo token: --tier is vip or standard, not %s\n", tier->c_str());
    return 2;
  }
  if (!secret_path(args)) {
    std::fprintf(stderr,
                 "ordo token: needs the server's --data-dir DIR (its jwt.secret) or "
                 "--jwt-secret-file F\n");
    return 2;
  }
  auto secret = token_secret(args);
  if (!secret) {
    std::fprintf(stderr, "ordo token: %s\n", secret.error().message.c_str());
    return 1;
  }
  Claims c;
  c.sub = *sub;
  c.role = *role;
  c.exp_s = SystemClock().now().value() / 1000 + *ttl_ms / 1000;
  if (auto tier = args.get("tier")) c.tier = *tier;
  std::printf("%s\n", sign_jwt(c, *secret).c_str());
  return 0;
}

int cmd_serve(const Args& args) {
  if (int bad = refuse_unknown(args, "serve", kServeFlags)) return bad;
  auto data_dir = args.get("data-dir");
  if (!data_dir) return usage();
  // A flag that only means something beside another: refused alone, as it would be ignored
  // (a mistyped --kafka would otherwise start an embedded log without a word).
  for (auto [flag, needs] : {std::pair{"kafka-topic", "kafka"},
                             {"kafka-transactional-prefix", "kafka"},
                             {"kafka-timeout-ms", "kafka"},
                             {"views-schema", "postgres"},
                             {"min-position-wait", "postgres"},
                             {"jwt-previous-secret-grace", "jwt-previous-secret-file"}}) {
    if (args.get(flag) && !args.get(needs)) {
      std::fprintf(stderr, "ordo serve: --%s needs --%s\n", flag, needs);
      return 2;
    }
  }
  // Integer flags: the whole value, within its range; the first bad one is reported.
  std::string bad_flag;
  auto int_flag = [&](const char* name, int64_t fallback, int64_t lo, int64_t hi) -> int64_t {
    auto v = args.get(name);
    if (!v) return fallback;
    auto n = parse_int_in(*v, lo, hi);
    if (!n && bad_flag.empty())
      bad_flag = fmt::format("--{} must be an integer in {}..{}, not {}", name, lo, hi, *v);
    return n.value_or(fallback);
  };
  // Duration flags ("15m", "10s", "250ms", plain milliseconds) within their range, reported as
  // int_flag's are. A bad value reads as the fallback until the report stops the start.
  auto duration_flag = [&](const char* name, const char* fallback, int64_t lo_ms,
                           int64_t hi_ms) -> DurationMs {
    const std::string v = args.get_or(name, fallback);
    auto ms = parse_duration_ms(v);
    if (ms && *ms >= lo_ms && *ms <= hi_ms) return DurationMs{*ms};
    if (bad_flag.empty())
      bad_flag =
          fmt::format("bad --{}: {} is not a duration in {}..{} (like {}, the default)", name, v,
                      format_duration_ms(lo_ms), format_duration_ms(hi_ms), fallback);
    return DurationMs{*parse_duration_ms(fallback)};
  };
  // --kafka BROKERS: the events live in Kafka (DESIGN §5); RocksDB keeps state under DIR.
  std::optional<kafka::Options> kafka_options;
  if (auto brokers = args.get("kafka")) {
    kafka_options.emplace();
    kafka_options->brokers = *brokers;
    kafka_options->topic = args.get_or("kafka-topic", "ordo.events");
    kafka_options->transactional_prefix = args.get_or("kafka-transactional-prefix", "ordo-");
    kafka_options->timeout_ms =
        static_cast<int>(int_flag("kafka-timeout-ms", 10'000, 100, 600'000));
  }
  std::string listen = args.get_or("listen", "127.0.0.1:8080");
  auto colon = listen.rfind(':');
  if (colon == std::string::npos) return usage();

  ServerConfig server;
  server.host = listen.substr(0, colon);
  // Port 0: any free port (written to --port-file).
  auto port = parse_int_in(listen.substr(colon + 1), 0, 65535);
  if (!port) {
    std::fprintf(stderr, "ordo serve: --listen needs HOST:PORT with a port in 0..65535\n");
    return 2;
  }
  server.port = static_cast<uint16_t>(*port);
  server.threads = static_cast<unsigned>(int_flag("http-threads", 2, 1, 64));

  EngineConfig engine_config;
  engine_config.data_dir = *data_dir;
  engine_config.partitions = static_cast<uint32_t>(int_flag("partitions", 1, 1, 1024));
  engine_config.processor.queue_capacity =
      static_cast<size_t>(int_flag("queue-capacity", 8192, 1, 1'000'000));
  engine_config.processor.max_batch = static_cast<size_t>(int_flag("max-batch", 1024, 1, 65'536));
  // Writes pause (503, /readyz down) while the data directory's disk has less free; 0: off.
  engine_config.processor.min_free_disk_bytes =
      static_cast<uint64_t>(int_flag("min-free-disk-mb", 128, 0, 1'000'000)) << 20;
  engine_config.processor.reservation_ttl =
      duration_flag("reservation-ttl", "15m", 1, kMaxDurationMs);
  // 0 turns it off: an order then waits in payment_pending for its payment for ever.
  engine_config.processor.payment_timeout =
      duration_flag("payment-timeout", "1h", 0, kMaxDurationMs);
  engine_config.processor.auto_release_after =
      duration_flag("auto-release-after", "7d", 1, kMaxDurationMs);
  const DurationMs flow_wait = duration_flag("flow-wait-timeout", "10s", 1, 60'000);
  // How long a query with Ordo-Min-Position waits for the views to reach it (then 503).
  const DurationMs min_position_wait = duration_flag("min-position-wait", "5s", 1, 60'000);
  // How long a query on the views, or a read of the log, may take before 503 views_timeout
  // (storage_timeout for the log).
  const DurationMs query_timeout = duration_flag("query-timeout", "10s", 1, 60'000);
  const DurationMs write_timeout =
      duration_flag("subscribe-write-timeout", "10s", 1, kMaxDurationMs);
  engine_config.processor.platform_fee_bps = int_flag("platform-fee-bps", 500, 0, kMaxFeeBps);
  // Slow clients: a request must arrive whole within --read-timeout of its first byte; a
  // keep-alive connection may wait --idle-timeout for the next one.
  server.read_timeout =
      std::chrono::milliseconds(duration_flag("read-timeout", "10s", 1, kMaxDurationMs).value());
  server.idle_timeout =
      std::chrono::milliseconds(duration_flag("idle-timeout", "60s", 1, kMaxDurationMs).value());
  server.max_connections_per_client =
      static_cast<size_t>(int_flag("max-connections-per-client", 0, 0, 1'000'000));
  server.max_connections = static_cast<size_t>(int_flag("max-connections", 4096, 1, 1'000'000));
  // HTTPS: --tls-cert and --tls-key (PEM files). Without them, plain HTTP.
  server.tls_cert_file = args.get_or("tls-cert", "");
  server.tls_key_file = args.get_or("tls-key", "");

  AppConfig app_config;
  // Requests per second per token, with a burst of twice that; 0 (the default) is off.
  const std::string rate = args.get_or("rate-limit", "0");
  size_t rate_used = 0;
  try {
    app_config.rate_limit.rps = std::stod(rate, &rate_used);
  } catch (...) {
    rate_used = 0;
  }
  if (rate_used != rate.size() ||
      !(app_config.rate_limit.rps >= 0 && app_config.rate_limit.rps <= 1e6)) {
    std::fprintf(stderr, "ordo serve: --rate-limit must be 0..1000000 requests per second\n");
    return 2;
  }
  // GET /v1/subscribe: open subscriptions at most (0: none), and events one may have waiting.
  app_config.live.max_subscriptions =
      static_cast<size_t>(int_flag("max-subscriptions", 256, 0, 100'000));
  app_config.live.max_per_caller =
      static_cast<size_t>(int_flag("max-subscriptions-per-caller", 16, 1, 100'000));
  app_config.live.queue_limit =
      static_cast<size_t>(int_flag("subscribe-queue-limit", 1000, 1, 1'000'000));
  app_config.live.write_timeout = std::chrono::milliseconds(write_timeout.value());
  // GET queries on the views: how many may wait for or run on the query pool at once.
  app_config.max_pending_queries =
      static_cast<size_t>(int_flag("max-pending-queries", 64, 1, 100'000));
  // With --jwt-previous-secret-file: how long the previous secret keeps working (below).
  std::optional<DurationMs> previous_grace;
  if (args.get("jwt-previous-secret-file"))
    previous_grace = duration_flag("jwt-previous-secret-grace", "24h", 1, kMaxDurationMs);
  if (!bad_flag.empty()) {
    std::fprintf(stderr, "ordo serve: %s\n", bad_flag.c_str());
    return 2;
  }
  std::error_code ec;
  std::filesystem::create_directories(*data_dir, ec);
  // A file system no larger than the disk reserve could never take a write: say so now
  // rather than serve with every partition's writes paused.
  if (const uint64_t reserve = engine_config.processor.min_free_disk_bytes; reserve > 0) {
    struct statvfs st {};
    if (::statvfs(data_dir->c_str(), &st) == 0 && uint64_t{st.f_blocks} * st.f_frsize <= reserve) {
      std::fprintf(stderr,
                   "ordo serve: the file system of %s holds %llu MiB in all, no more than "
                   "--min-free-disk-mb %llu: no write could be made (lower it, or 0 turns the "
                   "reserve off)\n",
                   data_dir->c_str(),
                   static_cast<unsigned long long>((uint64_t{st.f_blocks} * st.f_frsize) >> 20),
                   static_cast<unsigned long long>(reserve >> 20));
      return 2;
    }
  }
  auto secret = token_secret(args);
  if (!secret) {
    std::fprintf(stderr, "ordo serve: %s\n", secret.error().message.c_str());
    return 1;
  }
  app_config.jwt_secrets.push_back(*secret);
  app_config.flow_wait_timeout = std::chrono::milliseconds(flow_wait.value());
  app_config.min_position_timeout = std::chrono::milliseconds(min_position_wait.value());
  app_config.query_timeout = std::chrono::milliseconds(query_timeout.value());
  server.drain_timeout = drain_timeout_for(app_config);
  // The payment provider's webhook secret: a file, or the environment (never argv).
  if (auto f = args.get("webhook-secret-file")) {
    auto w = read_secret_file(*f);
    if (!w) {
      std::fprintf(stderr, "ordo serve: %s\n", w.error().message.c_str());
      return 1;
    }
    app_config.webhook_secrets.push_back(*w);
  } else if (const char* env = std::getenv("ORDO_WEBHOOK_SECRET"); env && *env) {
    if (std::string_view(env).size() < kMinSecretBytes) {
      std::fprintf(stderr, "ordo serve: ORDO_WEBHOOK_SECRET must be at least %zu bytes\n",
                   kMinSecretBytes);
      return 1;
    }
    app_config.webhook_secrets.push_back(env);
  }
  if (auto prev = args.get("jwt-previous-secret-file")) {
    auto s = read_secret_file(*prev);
    if (!s) {
      std::fprintf(stderr, "ordo serve: %s\n", s.error().message.c_str());
      return 1;
    }
    app_config.jwt_secrets.push_back(*s);
    // The old secret stops working on its own after the grace (24 h unless
    // --jwt-previous-secret-grace says otherwise), without a restart: a leaked secret being
    // rotated out must not stay valid for as long as nobody restarts the server. The grace
    // counts from the first start with this previous secret (recorded in the data
    // directory), so neither a restart nor a crash loop lengthens it.
  }

  // Signals are taken by sigwait on this thread; every other thread blocks them.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  // A closed terminal stops it as cleanly as Ctrl-C, unless SIGHUP was ignored on entry
  // (`nohup`): a blocked signal in sigwait's set would be taken even so.
  struct sigaction hup {};
  if (sigaction(SIGHUP, nullptr, &hup) == 0 && hup.sa_handler != SIG_IGN)
    sigaddset(&signals, SIGHUP);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);

  SystemClock clock;
  auto engine = kafka_options ? Engine::open_kafka(engine_config, *kafka_options, clock)
                              : Engine::open_embedded(engine_config, clock);
  if (!engine) {
    std::fprintf(stderr, "ordo serve: %s\n", engine.error().message.c_str());
    return 1;
  }
  // Recorded once the engine holds the data directory's lock: a second server started on it
  // by mistake exits above without touching the record.
  if (previous_grace) {
    const int64_t now_ms = clock.now().value();
    auto since = previous_secret_first_seen(*data_dir + "/jwt-previous.since",
                                            app_config.jwt_secrets.back(), now_ms);
    if (!since) {
      std::fprintf(stderr, "ordo serve: %s\n", since.error().message.c_str());
      return 1;
    }
    app_config.previous_secrets_until_ms = since.value() + previous_grace->value();
    std::fprintf(stderr,
                 "ordo serve: the previous JWT secret is accepted until %s "
                 "(--jwt-previous-secret-grace, from its first use at %s)%s\n",
                 utc_text(app_config.previous_secrets_until_ms).c_str(),
                 utc_text(since.value()).c_str(),
                 app_config.previous_secrets_until_ms <= now_ms ? ": over, it is refused" : "");
  }
  engine.value()->start();
  IdSource ids(clock, std::random_device{}());
  // The query side: PostgreSQL views fed by the projector, when --postgres is given.
  std::unique_ptr<projections::ProjectionRunner> runner;
  std::unique_ptr<projections::ViewQueries> queries;
  if (auto pg = args.get("postgres")) {
    projections::RunnerConfig rc;
    rc.conninfo = *pg;
    rc.schema = args.get_or("views-schema", "ordo");
    runner = std::make_unique<projections::ProjectionRunner>(engine.value()->log(), rc);
    runner->start();
    // PostgreSQL gives up on a query (and a wait for a pooled connection) at half of
    // --query-timeout, so a slow query ends, and frees its place, before its client's wait
    // does: the client reads views_unavailable, and views_timeout only when the database
    // does not answer at all.
    const int statement_timeout_ms =
        static_cast<int>(std::max<int64_t>(1, query_timeout.value() / 2));
    queries = std::make_unique<projections::ViewQueries>(*pg, rc.schema, 4, statement_timeout_ms);
  }
  // The process managers: the flows between the orders' partitions and the ledger's.
  FlowManager flows(*engine.value(), engine.value()->flow_store(), clock);
  if (auto s = flows.load(); !s) {
    std::fprintf(stderr, "ordo serve: %s\n", s.message().c_str());
    engine.value()->stop();
    return 1;
  }
  flows.start();
  App app(*engine.value(), clock, ids, app_config, ReadSide{queries.get(), runner.get()});
  app.set_flows(&flows);
  HttpServer http_server(server, ClientHandler([&app](Request& req, const ClientInfo& client) {
                           return app.handle(req, client);
                         }));
  if (auto s = http_server.start(); !s) {
    std::fprintf(stderr, "ordo serve: %s\n", s.message().c_str());
    flows.stop();
    engine.value()->stop();
    return 1;
  }
  std::fprintf(stderr, "ordo: listening on %s://%s:%u (data %s, %u partition(s))\n",
               server.tls_cert_file.empty() ? "http" : "https", server.host.c_str(),
               http_server.port(), data_dir->c_str(), engine_config.partitions);
  if (auto pf = args.get("port-file")) {
    std::ofstream(*pf + ".tmp") << http_server.port() << "\n";
    std::filesystem::rename(*pf + ".tmp", *pf, ec);
  }

  int sig = 0;
  sigwait(&signals, &sig);
  std::fprintf(stderr, "ordo: stopping (signal %d)\n", sig);
  http_server.begin_drain();  // first: the answers woken next close their connections
  app.begin_stop();           // subscriptions closed (1001), waits answered, while the server runs
  http_server.stop();
  app.join_offloads();  // while the server's io_context and the engine still exist
  flows.stop();         // before the engine: its steps wait on the partitions
  engine.value()->stop();
  if (runner) runner->stop();
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) return usage();
  std::string sub = argv[1];
  // replay parses its own flags (no ORDO_* environment: a replay names its source explicitly).
  if (sub == "replay") return ordo::replay::replay_main(argc, argv);
  Args args;
  std::string error;
  if (!args.parse(argc, argv, 2, error)) {
    std::fprintf(stderr, "ordo: %s\n", error.c_str());
    return usage();
  }
  if (sub == "serve") {
    // Connections, the log's files and the views' connections share the open-file limit:
    // take the hard limit the system grants (the server sizes its connection cap to it).
    if (rlimit fds{}; getrlimit(RLIMIT_NOFILE, &fds) == 0 && fds.rlim_cur < fds.rlim_max) {
      fds.rlim_cur = fds.rlim_max;
      setrlimit(RLIMIT_NOFILE, &fds);  // best effort: the cap follows what is in force
    }
    return cmd_serve(args);
  }
  if (sub == "token") return cmd_token(args);
  return usage();
}
