#pragma once
// The App (the HTTP handler) over a real engine, driven in-process: requests are built by
// hand and the handler's coroutine is run on a local io_context.
#include <doctest/doctest.h>

#include <memory>
#include <optional>
#include <string>

#include "api/app.hpp"
#include "engine/log/json.hpp"
#include "engine/runtime/clock.hpp"
#include "engine/runtime/engine.hpp"
#include "tests/unit/support.hpp"

namespace ordo::test::app {

using namespace ordo::api;

inline constexpr const char* kSecret = "app-inflight-test-secret-of-enough-length";

inline std::string bearer(const Clock& clock, std::string sub, Role role) {
  Claims c;
  c.sub = std::move(sub);
  c.role = role;
  c.exp_s = clock.now().value() / 1000 + 3600;
  return "Bearer " + sign_jwt(c, kSecret);
}

inline Request post(std::string target, std::string body, std::string auth, std::string key) {
  Request req{http::verb::post, target, 11};
  req.set(http::field::authorization, auth);
  req.set(http::field::content_type, "application/json");
  if (!key.empty()) req.set("Idempotency-Key", key);
  req.body() = std::move(body);
  req.prepare_payload();
  return req;
}

// The handler's answer, started on `io`; filled when the coroutine ends.
struct Pending {
  Request req;
  ClientInfo client;  // an lvalue: g++ 12 frees a defaulted temporary across the co_await
  std::optional<Response> res;
};

inline std::shared_ptr<Pending> start(asio::io_context& io, App& app, Request req) {
  auto p = std::make_shared<Pending>();
  p->req = std::move(req);
  asio::co_spawn(
      io, [p, &app]() -> asio::awaitable<void> { p->res = co_await app.handle(p->req, p->client); },
      asio::detached);
  return p;
}

inline std::string problem_code(const Response& res) {
  auto body = parse_json(res.body());
  const Json* code = body ? body->find("code") : nullptr;
  return code && code->is_string() ? code->as_string() : std::string();
}

// The handler's configuration with the tests' token secret.
inline AppConfig app_config() {
  AppConfig ac;
  ac.jwt_secrets = {kSecret};
  return ac;
}

// `partitions` partitions (one unless said), their writers not started: a command waits in
// its queue until the test runs it.
inline std::unique_ptr<Engine> open_engine(const test::TempDir& dir, const Clock& clock,
                                           uint32_t partitions = 1) {
  EngineConfig cfg;
  cfg.data_dir = dir.sub("engine");
  cfg.partitions = partitions;
  auto opened = Engine::open_embedded(cfg, clock);
  REQUIRE_MESSAGE(opened.ok(), test::error_of(opened));
  return std::move(opened.value());
}

// A one-partition engine whose writer the test runs by hand (proc.run_once()), and the
// handler over it; `config` may be adjusted before the handler is made.
struct AppRig {
  explicit AppRig(const char* tag, AppConfig config = app_config(), uint32_t partitions = 1)
      : dir(tag),
        engine_holder(open_engine(dir, clock, partitions)),
        engine(*engine_holder),
        proc(engine.processor(PartitionId{0})),
        ids(clock, 7),
        app(engine, clock, ids, std::move(config)) {}
  test::TempDir dir;
  ManualClock clock;
  std::unique_ptr<Engine> engine_holder;
  Engine& engine;
  PartitionProcessor& proc;
  IdSource ids;
  App app;
  asio::io_context io;
};

}  // namespace ordo::test::app
