// The HTTP ceiling for the wrk benchmark: Ordo's own Beast server (same limits, same thread
// count) with a handler that does no work and answers 201 with a small JSON body.
//   beast_noop PORT [THREADS]
#include <signal.h>

#include <cstdio>

#include "api/server.hpp"

using namespace ordo::api;

int main(int argc, char** argv) {
  if (argc < 2) return 2;
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  ServerConfig cfg;
  cfg.port = static_cast<uint16_t>(std::stoi(argv[1]));
  cfg.threads = argc > 2 ? static_cast<unsigned>(std::stoi(argv[2])) : 2;
  HttpServer server(cfg, [](Request& req) -> boost::asio::awaitable<Response> {
    Response res{http::status::created, req.version()};
    res.set(http::field::content_type, "application/json");
    res.keep_alive(req.keep_alive());
    res.body() = R"({"order_id":"noop","status":"reserved"})";
    res.prepare_payload();
    co_return res;
  });
  if (auto s = server.start(); !s) {
    std::fprintf(stderr, "%s\n", s.message().c_str());
    return 1;
  }
  int sig = 0;
  sigwait(&signals, &sig);
  server.stop();
  return 0;
}
