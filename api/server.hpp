#pragma once
// The HTTP/1.1 server: Beast with C++20 coroutines, one strand per connection (when more than
// one thread serves), and limits on everything a client controls: body and header size, idle
// and read timeouts, connections.
#include <algorithm>
#include <atomic>
#include <chrono>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include "api/http_types.hpp"
#include "engine/log/result.hpp"

namespace ordo::api {

// File descriptors kept for everything but client connections: RocksDB's open files
// (RocksDb::kMaxOpenFiles, 1000), the PostgreSQL and Kafka connections, the process's own,
// and one more per live write-ahead log file (engine/state/wal_page_dropper.cpp; a few).
inline constexpr size_t kReservedFds = 1000 + 256;

struct ServerConfig {
  std::string host = "127.0.0.1";
  uint16_t port = 8080;  // 0: pick a free port (tests)
  size_t body_limit_bytes = 64 * 1024;
  size_t header_limit_bytes = 16 * 1024;           // request line and headers together
  size_t max_header_fields = 100;                  // more → 431, however small they are
  std::chrono::milliseconds idle_timeout{60'000};  // keep-alive wait for the next request
  std::chrono::milliseconds read_timeout{10'000};  // from a request's first byte to its end
  // Open connections at most; start() lowers it to what the open-file limit leaves after
  // kReservedFds (the log's files, PostgreSQL, Kafka), so clients cannot starve the engine.
  size_t max_connections = 4096;
  // After an error response that leaves the request unread (413, 431, 400), the connection
  // reads and discards what the client still sends, for at most this long and this much,
  // before it closes: closing with unread input would reset the connection and the client
  // could lose the error response.
  std::chrono::milliseconds linger_timeout{5'000};
  // stop(): requests already being handled get this long to finish and send their answer
  // (a `?wait=true` command waits up to --flow-wait-timeout, 10 s by default).
  std::chrono::milliseconds drain_timeout{15'000};
  size_t linger_limit_bytes = 64 * 1024 * 1024;
  // Open connections from one address; more are closed at accept. 0: no per-address cap
  // (the default: load generators and proxies open hundreds from one address).
  size_t max_connections_per_client = 0;
  unsigned threads = 2;
  // HTTPS when both are set (PEM files); plain HTTP otherwise, the loopback default.
  std::string tls_cert_file;
  std::string tls_key_file;
};

using Handler = std::function<asio::awaitable<Response>(Request&)>;
// A handler that also learns about the connection (its peer address).
using ClientHandler = std::function<asio::awaitable<Response>(Request&, const ClientInfo&)>;

class HttpServer {
 public:
  HttpServer(ServerConfig config, Handler handler);
  HttpServer(ServerConfig config, ClientHandler handler);
  ~HttpServer();

  Status start();
  // From now on every answer closes its connection (`Connection: close`): the first step of
  // a stop, before the requests in hand are woken to answer.
  void begin_drain() { draining_ = true; }
  // Stops accepting, lets the requests in hand finish (at most drain_timeout; their
  // connections then close), and stops. Idle keep-alive connections are closed.
  void stop();
  uint16_t port() const { return bound_port_; }
  size_t max_connections() const { return max_connections_; }  // in force once started
  asio::io_context& io() { return io_; }

 private:
  unsigned io_threads() const { return std::max(1u, config_.threads); }
  asio::awaitable<void> accept_loop();
  asio::awaitable<void> session(asio::ip::tcp::socket socket, std::string peer);
  // Counts a connection from `peer`; false (nothing counted) when it already has its cap.
  bool claim_client_slot(const std::string& peer);
  void release_client_slot(const std::string& peer);
  // The request loop of one connection, over plain TCP or TLS.
  // True when it ended on an error response with the request left unread (see linger_*).
  template <typename Stream>
  asio::awaitable<bool> serve(Stream& stream, const ClientInfo& client);
  asio::awaitable<void> linger(beast::tcp_stream& stream);

  ServerConfig config_;
  ClientHandler handler_;
  // Declared before io_, so they outlive it: sessions still suspended when the server stops
  // are destroyed with io_, and their slots are given back to these.
  std::atomic<size_t> connections_{0};
  std::atomic<size_t> in_flight_{0};  // requests read and not yet answered
  std::atomic<bool> draining_{false};
  std::atomic<bool> stopped_{false};  // stop() ran (it runs once)
  size_t max_connections_ = 0;        // config_.max_connections within the open-file limit
  std::mutex per_client_mu_;
  std::unordered_map<std::string, size_t> per_client_;  // only addresses with connections
  struct Tls;  // the OpenSSL context, when serving HTTPS (server.cpp)
  std::unique_ptr<Tls> tls_;
  asio::io_context io_;
  asio::ip::tcp::acceptor acceptor_;
  std::vector<std::thread> threads_;
  uint16_t bound_port_ = 0;
};

}  // namespace ordo::api
