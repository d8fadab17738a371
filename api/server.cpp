#include "api/server.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/beast/ssl.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <sys/resource.h>

#include <array>
#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <cstdio>
#include <future>
#include <iterator>
#include <optional>
#include <thread>

#include "api/problem.hpp"
#include "api/websocket.hpp"
#include "engine/state/rocks_db.hpp"

namespace ordo::api {

namespace {
using asio::redirect_error;
using asio::use_awaitable;
using tcp = asio::ip::tcp;

static_assert(kReservedFds == RocksDb::kMaxOpenFiles + 256, "api/server.hpp: kReservedFds");
constexpr size_t kMinConnections = 64;
// A failed accept (EMFILE, ENFILE, ENOBUFS) is retried after this pause, not at once: the
// error repeats until a descriptor is freed, and an immediate retry would spin a core.
constexpr auto kAcceptRetryPause = std::chrono::milliseconds(100);

// A HEAD answer has the GET answer's headers and no body (RFC 9110 §9.3.2): a body would be
// read by the client as the start of the next response on the connection.
void strip_body_for_head(Response& res) {
  const size_t body_bytes = res.body().size();
  res.body().clear();
  res.content_length(body_bytes);
}

// Decrements the connection count however the session ends.
struct ConnectionSlot {
  std::atomic<size_t>& count;
  ~ConnectionSlot() { count.fetch_sub(1); }
};

// Completes a WebSocket upgrade the handler accepted and runs its session on the connection.
template <typename Stream>
asio::awaitable<void> run_websocket(Stream& stream, const Request& req, WebSocketSession& session,
                                    const ServerConfig& config) {
  beast::get_lowest_layer(stream).expires_never();  // the websocket's own timeouts from here on
  websocket::stream<Stream&> ws(stream);
  websocket::stream_base::timeout timeouts{config.read_timeout, config.idle_timeout, true};
  ws.set_option(timeouts);
  ws.read_message_max(config.body_limit_bytes);
  beast::error_code ec;
  co_await ws.async_accept(req, redirect_error(use_awaitable, ec));
  if (ec) co_return;
  co_await session.run(ws);
}
}  // namespace

struct HttpServer::Tls {
  asio::ssl::context ctx{asio::ssl::context::tls_server};
};

HttpServer::HttpServer(ServerConfig config, ClientHandler handler)
    : config_(std::move(config)), handler_(std::move(handler)), acceptor_(io_) {}

HttpServer::HttpServer(ServerConfig config, Handler handler)
    : HttpServer(std::move(config),
                 ClientHandler([h = std::move(handler)](Request& req, const ClientInfo&) {
                   return h(req);
                 })) {}

HttpServer::~HttpServer() { stop(); }

Status HttpServer::start() {
  if (stopped_) return Error{"the server was stopped; it does not start again"};
  beast::error_code ec;
  if (!config_.tls_cert_file.empty() || !config_.tls_key_file.empty()) {
    if (config_.tls_cert_file.empty() || config_.tls_key_file.empty())
      return Error{"TLS needs both a certificate and a key"};
    tls_ = std::make_unique<Tls>();
    // TLS 1.2 and newer only; the library's default cipher choice for those.
    tls_->ctx.set_options(asio::ssl::context::default_workarounds | asio::ssl::context::no_sslv2 |
                          asio::ssl::context::no_sslv3 | asio::ssl::context::no_tlsv1 |
                          asio::ssl::context::no_tlsv1_1 | asio::ssl::context::single_dh_use);
    tls_->ctx.use_certificate_chain_file(config_.tls_cert_file, ec);
    if (ec)
      return Error{"cannot use TLS certificate " + config_.tls_cert_file + ": " + ec.message()};
    tls_->ctx.use_private_key_file(config_.tls_key_file, asio::ssl::context::pem, ec);
    if (ec) return Error{"cannot use TLS key " + config_.tls_key_file + ": " + ec.message()};
  }
  auto address = asio::ip::make_address(config_.host, ec);
  if (ec) return Error{"bad listen address " + config_.host};
  tcp::endpoint endpoint{address, config_.port};
  acceptor_.open(endpoint.protocol(), ec);
  if (!ec) acceptor_.set_option(asio::socket_base::reuse_address(true), ec);
  if (!ec) acceptor_.bind(endpoint, ec);
  if (!ec) acceptor_.listen(asio::socket_base::max_listen_connections, ec);
  if (ec)
    return Error{"cannot listen on " + config_.host + ":" + std::to_string(config_.port) + ": " +
                 ec.message()};
  bound_port_ = acceptor_.local_endpoint().port();
  max_connections_ = config_.max_connections;
  if (rlimit fds{}; getrlimit(RLIMIT_NOFILE, &fds) == 0 && fds.rlim_cur != RLIM_INFINITY) {
    const size_t room = fds.rlim_cur > kReservedFds + kMinConnections
                            ? static_cast<size_t>(fds.rlim_cur) - kReservedFds
                            : kMinConnections;
    if (room < max_connections_) {
      std::fprintf(stderr,
                   "ordo: the open-file limit (%llu) allows %zu connections, not %zu; raise it "
                   "(ulimit -n) for more\n",
                   static_cast<unsigned long long>(fds.rlim_cur), room, max_connections_);
      max_connections_ = room;
    }
  }
  asio::co_spawn(io_, accept_loop(), asio::detached);
  for (unsigned i = 0; i < io_threads(); ++i) threads_.emplace_back([this] { io_.run(); });
  return {};
}

void HttpServer::stop() {
  // Once: the destructor stops again, and a second drain would wait out its whole bound for
  // requests whose frames only go away with io_.
  if (stopped_.exchange(true)) return;
  draining_ = true;
  // No new connections: closed on the io threads (the acceptor is theirs), waited for.
  auto closed = std::make_shared<std::promise<void>>();
  asio::post(io_, [this, closed] {
    beast::error_code ec;
    acceptor_.close(ec);
    closed->set_value();
  });
  if (!threads_.empty()) closed->get_future().wait_for(std::chrono::seconds(1));
  // The requests in hand get their answers (the engine still runs), within the bound.
  const auto deadline = std::chrono::steady_clock::now() + config_.drain_timeout;
  while (in_flight_.load() > 0 && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  io_.stop();
  for (auto& t : threads_)
    if (t.joinable()) t.join();
  threads_.clear();
}

asio::awaitable<void> HttpServer::accept_loop() {
  for (;;) {
    beast::error_code ec;
    // A strand per connection serialises its coroutines (a WebSocket's reader and writer)
    // when several threads run io_; one thread already runs every handler in turn, and a
    // strand would only add a queue hop and executor copies to each of them.
    tcp::socket socket(io_threads() == 1 ? asio::any_io_executor(io_.get_executor())
                                         : asio::any_io_executor(asio::make_strand(io_)));
    co_await acceptor_.async_accept(socket, redirect_error(use_awaitable, ec));
    if (ec) {
      if (ec == asio::error::operation_aborted || !acceptor_.is_open()) co_return;
      asio::steady_timer pause(io_, kAcceptRetryPause);  // e.g. EMFILE: retry, not spin
      co_await pause.async_wait(redirect_error(use_awaitable, ec));
      continue;
    }
    if (connections_.fetch_add(1) >= max_connections_) {
      connections_.fetch_sub(1);
      socket.close(ec);
      continue;
    }
    std::string peer;
    if (auto remote = socket.remote_endpoint(ec); !ec) peer = remote.address().to_string();
    if (!claim_client_slot(peer)) {
      connections_.fetch_sub(1);
      socket.close(ec);
      continue;
    }
    auto executor = socket.get_executor();
    asio::co_spawn(executor, session(std::move(socket), std::move(peer)), asio::detached);
  }
}

bool HttpServer::claim_client_slot(const std::string& peer) {
  if (config_.max_connections_per_client == 0) return true;
  std::lock_guard lock(per_client_mu_);
  size_t& n = per_client_[peer];
  if (n >= config_.max_connections_per_client) return false;
  ++n;
  return true;
}

void HttpServer::release_client_slot(const std::string& peer) {
  if (config_.max_connections_per_client == 0) return;
  std::lock_guard lock(per_client_mu_);
  auto it = per_client_.find(peer);
  if (it != per_client_.end() && --it->second == 0) per_client_.erase(it);  // bounded map
}

asio::awaitable<void> HttpServer::session(tcp::socket socket, std::string peer) {
  ConnectionSlot slot{connections_};
  struct ClientSlot {
    HttpServer& server;
    const std::string& peer;
    ~ClientSlot() { server.release_client_slot(peer); }
  } client_slot{*this, peer};
  ClientInfo client{peer, nullptr};
  beast::error_code ec;
  if (!tls_) {
    beast::tcp_stream stream(std::move(socket));
    const bool unread = co_await serve(stream, client);
    stream.socket().shutdown(tcp::socket::shutdown_send, ec);
    if (unread) co_await linger(stream);
    co_return;
  }
  beast::ssl_stream<beast::tcp_stream> stream(beast::tcp_stream(std::move(socket)), tls_->ctx);
  // The handshake is bounded like a request: a client that stalls in it is cut off.
  beast::get_lowest_layer(stream).expires_after(config_.read_timeout);
  co_await stream.async_handshake(asio::ssl::stream_base::server,
                                  redirect_error(use_awaitable, ec));
  if (ec) co_return;
  co_await serve(stream, client);
  beast::get_lowest_layer(stream).expires_after(config_.read_timeout);
  co_await stream.async_shutdown(redirect_error(use_awaitable, ec));
}

asio::awaitable<void> HttpServer::linger(beast::tcp_stream& stream) {
  // Our FIN is sent; read until the client's, the time bound or the byte bound.
  stream.expires_after(config_.linger_timeout);
  std::array<char, 16 * 1024> scratch;
  size_t drained = 0;
  beast::error_code ec;
  while (drained < config_.linger_limit_bytes) {
    drained +=
        co_await stream.async_read_some(asio::buffer(scratch), redirect_error(use_awaitable, ec));
    if (ec) break;
  }
}

template <typename Stream>
asio::awaitable<bool> HttpServer::serve(Stream& stream, const ClientInfo& client) {
  auto& tcp_layer = beast::get_lowest_layer(stream);
  beast::flat_buffer buffer(config_.header_limit_bytes + config_.body_limit_bytes);
  beast::error_code ec;
  for (bool first = true;; first = false) {
    // Idle: wait (bounded) for the first byte of the next request. A new connection gets
    // no more than the read timeout: a client that connects and says nothing holds a slot.
    if (buffer.size() == 0) {
      tcp_layer.expires_after(first ? std::min(config_.read_timeout, config_.idle_timeout)
                                    : config_.idle_timeout);
      size_t n =
          co_await stream.async_read_some(buffer.prepare(4096), redirect_error(use_awaitable, ec));
      if (ec) break;
      buffer.commit(n);
    }
    http::request_parser<http::string_body> parser;
    parser.header_limit(static_cast<std::uint32_t>(config_.header_limit_bytes));
    parser.body_limit(config_.body_limit_bytes);
    tcp_layer.expires_after(config_.read_timeout);
    co_await http::async_read(stream, buffer, parser, redirect_error(use_awaitable, ec));
    if (ec) {
      if (ec == http::error::end_of_stream || ec == beast::error::timeout ||
          ec == asio::error::eof || ec == asio::error::connection_reset)
        break;
      Problem p{400, "bad_request", "the request is not valid HTTP/1.1", {}, {}};
      if (ec == http::error::body_limit)
        p = Problem{
            413,
            "body_too_large",
            "the request body exceeds " + std::to_string(config_.body_limit_bytes) + " bytes",
            {},
            {}};
      else if (ec == http::error::header_limit)
        p = Problem{431, "headers_too_large", "the request line and headers are too large", {}, {}};
      auto res = make_problem(p, 11, false);
      if (parser.is_header_done() && parser.get().method() == http::verb::head)
        strip_body_for_head(res);
      tcp_layer.expires_after(config_.read_timeout);
      co_await http::async_write(stream, res, redirect_error(use_awaitable, ec));
      co_return !ec;
    }
    Request req = parser.release();
    Response res;
    // Many tiny headers fit the byte limit yet cost a map entry each: bound their count too.
    if (static_cast<size_t>(std::distance(req.begin(), req.end())) > config_.max_header_fields) {
      res = make_problem(
          Problem{431,
                  "too_many_headers",
                  "more than " + std::to_string(config_.max_header_fields) + " header fields",
                  {},
                  {}},
          req.version(), false);
      if (req.method() == http::verb::head) strip_body_for_head(res);
      tcp_layer.expires_after(config_.read_timeout);
      co_await http::async_write(stream, res, redirect_error(use_awaitable, ec));
      co_return false;  // the request was read whole
    }
    client.upgrade.reset();
    // Counted from here until the answer is written: stop() waits for it.
    struct InFlight {
      std::atomic<size_t>& n;
      explicit InFlight(std::atomic<size_t>& c) : n(c) { n.fetch_add(1); }
      ~InFlight() { n.fetch_sub(1); }
    };
    std::optional<InFlight> in_flight;
    in_flight.emplace(in_flight_);
    try {
      res = co_await handler_(req, client);
    } catch (const std::exception& e) {
      std::fprintf(stderr, "ordo: handler failed: %s\n", e.what());
      res = make_problem(Problem{500, "internal", "the request could not be handled", {}, {}},
                         req.version(), false);
    }
    if (res.result() == http::status::switching_protocols) {
      // A WebSocket upgrade the handler accepted: the connection is the session's from now on.
      std::shared_ptr<WebSocketSession> upgrade = std::move(client.upgrade);
      if (upgrade && websocket::is_upgrade(req)) {
        in_flight.reset();  // a subscription is not a request in hand: it is closed (1001)
        co_await run_websocket(stream, req, *upgrade, config_);
        break;
      }
      res = make_problem(Problem{500, "internal", "the upgrade could not be made", {}, {}},
                         req.version(), false);
    }
    client.upgrade.reset();
    res.version(req.version());
    if (req.method() == http::verb::head) strip_body_for_head(res);
    if (!req.keep_alive() || draining_) res.keep_alive(false);  // stopping: the last answer
    tcp_layer.expires_after(config_.read_timeout);
    co_await http::async_write(stream, res, redirect_error(use_awaitable, ec));
    if (ec || !res.keep_alive()) break;
  }
  co_return false;
}

}  // namespace ordo::api
