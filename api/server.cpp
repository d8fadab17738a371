#include "api/server.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <cstdio>
#include <iterator>

#include "api/problem.hpp"

namespace ordo::api {

namespace {
using asio::redirect_error;
using asio::use_awaitable;
using tcp = asio::ip::tcp;

// Decrements the connection count however the session ends.
struct ConnectionSlot {
  std::atomic<size_t>& count;
  ~ConnectionSlot() { count.fetch_sub(1); }
};
}  // namespace

HttpServer::HttpServer(ServerConfig config, ClientHandler handler)
    : config_(std::move(config)), handler_(std::move(handler)), acceptor_(io_) {}

HttpServer::HttpServer(ServerConfig config, Handler handler)
    : HttpServer(std::move(config),
                 ClientHandler([h = std::move(handler)](Request& req, const ClientInfo&) { return h(req); })) {}

HttpServer::~HttpServer() { stop(); }

Status HttpServer::start() {
  beast::error_code ec;
  auto address = asio::ip::make_address(config_.host, ec);
  if (ec) return Error{"bad listen address " + config_.host};
  tcp::endpoint endpoint{address, config_.port};
  acceptor_.open(endpoint.protocol(), ec);
  if (!ec) acceptor_.set_option(asio::socket_base::reuse_address(true), ec);
  if (!ec) acceptor_.bind(endpoint, ec);
  if (!ec) acceptor_.listen(asio::socket_base::max_listen_connections, ec);
  if (ec) return Error{"cannot listen on " + config_.host + ":" + std::to_string(config_.port) + ": " + ec.message()};
  bound_port_ = acceptor_.local_endpoint().port();
  asio::co_spawn(io_, accept_loop(), asio::detached);
  for (unsigned i = 0; i < std::max(1u, config_.threads); ++i)
    threads_.emplace_back([this] { io_.run(); });
  return {};
}

void HttpServer::stop() {
  asio::post(io_, [this] {
    beast::error_code ec;
    acceptor_.close(ec);
  });
  io_.stop();
  for (auto& t : threads_)
    if (t.joinable()) t.join();
  threads_.clear();
}

asio::awaitable<void> HttpServer::accept_loop() {
  for (;;) {
    beast::error_code ec;
    tcp::socket socket(asio::make_strand(io_));
    co_await acceptor_.async_accept(socket, redirect_error(use_awaitable, ec));
    if (ec) {
      if (ec == asio::error::operation_aborted || !acceptor_.is_open()) co_return;
      continue;  // e.g. EMFILE: keep accepting
    }
    if (connections_.fetch_add(1) >= config_.max_connections) {
      connections_.fetch_sub(1);
      socket.close(ec);
      continue;
    }
    auto executor = socket.get_executor();
    asio::co_spawn(executor, session(std::move(socket)), asio::detached);
  }
}

asio::awaitable<void> HttpServer::session(tcp::socket socket) {
  ConnectionSlot slot{connections_};
  ClientInfo client;
  beast::error_code peer_ec;
  if (auto peer = socket.remote_endpoint(peer_ec); !peer_ec) client.address = peer.address().to_string();
  beast::tcp_stream stream(std::move(socket));
  beast::flat_buffer buffer(config_.header_limit_bytes + config_.body_limit_bytes);
  beast::error_code ec;
  for (;;) {
    // Idle: wait (bounded) for the first byte of the next request.
    if (buffer.size() == 0) {
      stream.expires_after(config_.idle_timeout);
      size_t n = co_await stream.async_read_some(buffer.prepare(4096), redirect_error(use_awaitable, ec));
      if (ec) break;
      buffer.commit(n);
    }
    http::request_parser<http::string_body> parser;
    parser.header_limit(static_cast<std::uint32_t>(config_.header_limit_bytes));
    parser.body_limit(config_.body_limit_bytes);
    stream.expires_after(config_.read_timeout);
    co_await http::async_read(stream, buffer, parser, redirect_error(use_awaitable, ec));
    if (ec) {
      if (ec == http::error::end_of_stream || ec == beast::error::timeout ||
          ec == asio::error::eof || ec == asio::error::connection_reset)
        break;
      Problem p{400, "bad_request", "the request is not valid HTTP/1.1", {}, {}};
      if (ec == http::error::body_limit)
        p = Problem{413, "body_too_large",
                    "the request body exceeds " + std::to_string(config_.body_limit_bytes) + " bytes", {}, {}};
      else if (ec == http::error::header_limit)
        p = Problem{431, "headers_too_large", "the request line and headers are too large", {}, {}};
      auto res = make_problem(p, 11, false);
      stream.expires_after(config_.read_timeout);
      co_await http::async_write(stream, res, redirect_error(use_awaitable, ec));
      break;
    }
    Request req = parser.release();
    Response res;
    // Many tiny headers fit the byte limit yet cost a map entry each: bound their count too.
    if (static_cast<size_t>(std::distance(req.begin(), req.end())) > config_.max_header_fields) {
      res = make_problem(Problem{431, "too_many_headers",
                                 "more than " + std::to_string(config_.max_header_fields) + " header fields", {}, {}},
                         req.version(), false);
      stream.expires_after(config_.read_timeout);
      co_await http::async_write(stream, res, redirect_error(use_awaitable, ec));
      break;
    }
    try {
      res = co_await handler_(req, client);
    } catch (const std::exception& e) {
      std::fprintf(stderr, "ordo: handler failed: %s\n", e.what());
      res = make_problem(Problem{500, "internal", "the request could not be handled", {}, {}},
                         req.version(), false);
    }
    res.version(req.version());
    if (!req.keep_alive()) res.keep_alive(false);
    stream.expires_after(config_.read_timeout);
    co_await http::async_write(stream, res, redirect_error(use_awaitable, ec));
    if (ec || !res.keep_alive()) break;
  }
  stream.socket().shutdown(tcp::socket::shutdown_send, ec);
}

}  // namespace ordo::api
