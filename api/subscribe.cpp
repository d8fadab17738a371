// GET /v1/subscribe: live events over a WebSocket (DESIGN §7). The request is authenticated
// and matched against the access table like any other; this handler validates the filters,
// claims a subscription from the live feed (api/live_feed.hpp) and answers 101, and the
// server then runs the SubscribeSession below on the upgraded connection: one text message
// per event (its canonical envelope), a close with 1008 when the subscriber falls more than
// the queue limit behind, 1001 when the server stops.
#include <cctype>
#include <utility>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <fmt/core.h>

#include "api/call.hpp"
#include "api/http_util.hpp"
#include "api/jwt.hpp"
#include "api/live_feed.hpp"
#include "api/websocket.hpp"

namespace ordo::api {

namespace {

using asio::redirect_error;
using asio::use_awaitable;

// A Sec-WebSocket-Key is 16 bytes in base64: 22 characters of the alphabet, then "==".
bool is_websocket_key(std::string_view key) {
  if (key.size() != 24 || key.substr(22) != "==") return false;
  for (char c : key.substr(0, 22))
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '+' && c != '/') return false;
  return true;
}

// The kernel's send buffer of a subscriber's socket: together with the queue limit, what one
// slow subscriber can hold on the server.
constexpr int kSendBufferBytes = 64 * 1024;
constexpr size_t kMaxTypes = 32;
constexpr size_t kMaxTypeBytes = 64;

// `OrderPlaced,OrderPaid`: 1..32 names of 1..64 letters or digits (the document's pattern).
std::optional<std::vector<std::string>> parse_types(std::string_view v) {
  std::vector<std::string> out;
  for (;;) {
    size_t comma = v.find(',');
    std::string_view name = v.substr(0, comma);
    if (name.empty() || name.size() > kMaxTypeBytes) return std::nullopt;
    for (char c : name)
      if (!std::isalnum(static_cast<unsigned char>(c))) return std::nullopt;
    out.emplace_back(name);
    if (out.size() > kMaxTypes) return std::nullopt;
    if (comma == std::string_view::npos) return out;
    v.remove_prefix(comma + 1);
  }
}

// What the connection's two coroutines share.
struct Connection {
  explicit Connection(asio::any_io_executor ex) : wake(ex), write_deadline(std::move(ex)) {}
  asio::steady_timer wake;            // the writer waits here; cancelled to wake it
  asio::steady_timer write_deadline;  // runs out when a message is not taken in time
  bool reader_done = false;
  uint64_t writing = 0;  // the number of the message being written; 0 between writes
};

// Reads (and ignores) what the subscriber sends, so control frames (pong, close) are handled;
// ends when the connection does.
template <typename Ws>
asio::awaitable<void> read_loop(Ws& ws, std::shared_ptr<Connection> conn) {
  beast::flat_buffer buffer;
  beast::error_code ec;
  for (;;) {
    co_await ws.async_read(buffer, redirect_error(use_awaitable, ec));
    if (ec) break;
    buffer.consume(buffer.size());
  }
  conn->reader_done = true;
  conn->wake.cancel();
}

class SubscribeSession final : public WebSocketSession {
 public:
  SubscribeSession(LiveFeed& feed, std::shared_ptr<Subscription> sub,
                   std::chrono::milliseconds write_timeout,
                   std::chrono::steady_clock::time_point token_expires_at)
      : feed_(feed),
        sub_(std::move(sub)),
        write_timeout_(write_timeout),
        token_expires_at_(token_expires_at) {}
  ~SubscribeSession() override {
    sub_->set_wake(nullptr);
    feed_.release(*sub_);
  }
  asio::awaitable<void> run(PlainWebSocket& ws) override { co_await serve(ws); }
  asio::awaitable<void> run(TlsWebSocket& ws) override { co_await serve(ws); }

 private:
  template <typename Ws>
  asio::awaitable<void> serve(Ws& ws);

  LiveFeed& feed_;
  std::shared_ptr<Subscription> sub_;
  const std::chrono::milliseconds write_timeout_;
  // The subscription ends with its token: what it was allowed to see was decided once, at
  // the upgrade, by a token that says until when it holds.
  const std::chrono::steady_clock::time_point token_expires_at_;
};

template <typename Ws>
asio::awaitable<void> SubscribeSession::serve(Ws& ws) {
  // Everything below runs on the connection's executor, a strand (or the only HTTP thread):
  // the feed's thread only posts wake-ups there, so checking the queue and starting to wait
  // cannot miss one.
  auto ex = co_await asio::this_coro::executor;
  auto conn = std::make_shared<Connection>(ex);
  beast::error_code ec;
  beast::get_lowest_layer(ws).socket().set_option(
      asio::socket_base::send_buffer_size(kSendBufferBytes), ec);
  std::weak_ptr<Connection> weak = conn;
  sub_->set_wake([weak, ex] {
    asio::post(ex, [weak] {
      if (auto c = weak.lock()) c->wake.cancel();
    });
  });
  asio::co_spawn(ex, read_loop(ws, conn), asio::detached);
  ws.text(true);
  uint64_t writes = 0;          // messages written so far, numbering each write's deadline
  websocket::close_reason why;  // close_code::none: no close frame to send
  for (;;) {
    if (conn->reader_done) break;
    if (std::chrono::steady_clock::now() >= token_expires_at_) {
      why = websocket::close_reason(websocket::close_code::policy_error, "the token has expired");
      break;
    }
    auto next = sub_->next();
    if (next.state == Subscription::State::overflowed) {
      why = websocket::close_reason(
          websocket::close_code::policy_error,
          fmt::format("too slow: more than {} events waiting", sub_->queue_limit()));
      break;
    }
    if (next.state == Subscription::State::stopping) {
      why = websocket::close_reason(websocket::close_code::going_away, "the server is stopping");
      break;
    }
    if (next.message) {
      // A subscriber that stops reading fills the socket's buffers and the write waits; past
      // the deadline the socket is closed, which ends the write (no close frame can get
      // through). The handler runs on this executor: while `writing`, this frame and `ws`
      // are alive.
      const uint64_t write = ++writes;
      conn->write_deadline.expires_after(write_timeout_);
      conn->write_deadline.async_wait([weak, &ws, write](beast::error_code e) {
        // A deadline that ran out as its write finished may still run: it must not close
        // the socket under the next write.
        auto c = weak.lock();
        if (e || !c || c->writing != write) return;
        beast::error_code ignored;
        beast::get_lowest_layer(ws).socket().close(ignored);
      });
      conn->writing = write;
      co_await ws.async_write(asio::buffer(*next.message), redirect_error(use_awaitable, ec));
      conn->writing = 0;
      conn->write_deadline.cancel();
      if (ec) break;
      continue;
    }
    conn->wake.expires_at(token_expires_at_);  // woken earlier by an event or the reader
    co_await conn->wake.async_wait(redirect_error(use_awaitable, ec));
  }
  sub_->set_wake(nullptr);
  feed_.unsubscribe(*sub_);
  if (!conn->reader_done && why.code != websocket::close_code::none) {
    // Bounded by the websocket's handshake timeout when the peer does not answer.
    co_await ws.async_close(why, redirect_error(use_awaitable, ec));
  }
  if (!conn->reader_done) beast::get_lowest_layer(ws).socket().close(ec);
  while (!conn->reader_done) {
    conn->wake.expires_at(asio::steady_timer::time_point::max());
    co_await conn->wake.async_wait(redirect_error(use_awaitable, ec));
  }
}

}  // namespace

void App::begin_stop() {
  // Before the server's drain: a verify of the whole log in hand ends at its next read (answered
  // 503 `stopping`), so the server's drain does not wait out a long read.
  offloads_stopping_ = true;
  {
    std::lock_guard lock(flow_waiters_mu_);
    flow_waits_ended_ = true;
    for (const auto& w : flow_waiters_)
      if (auto waiter = w.lock()) waiter->give_up();
    flow_waiters_.clear();
  }
  feed_->stop();
}

Response App::handle_subscribe(Call& call, const ClientInfo& client) {
  FeedFilter filter{call.who.role, call.who.sub, {}};
  if (auto v = call.query.get("types")) {
    auto types = parse_types(*v);
    if (!types)
      return call.problem(
          {400,
           "validation_failed",
           "types must be 1 to 32 comma-separated event type names, like OrderPlaced,OrderPaid",
           "types",
           {}});
    filter.types = std::move(*types);
  }
  if (auto v = call.query.get("from"); v && *v != "now")
    return call.problem({400,
                         "validation_failed",
                         "from must be \"now\" (events appended after subscribing)",
                         "from",
                         {}});
  Request& req = call.req;
  // HTTP/1.0 asking for an upgrade: is_upgrade says no below 1.1, so answer that first.
  if (req.version() < 11 && req.find(http::field::upgrade) != req.end())
    return call.problem({400, "bad_request", "a WebSocket handshake is HTTP/1.1", {}, {}});
  if (!websocket::is_upgrade(req)) {
    auto res = call.problem({426,
                             "upgrade_required",
                             "GET /v1/subscribe is a WebSocket: send Upgrade: websocket",
                             {},
                             {}});
    res.set(http::field::upgrade, "websocket");
    return res;
  }
  if (req[http::field::sec_websocket_version] != "13") {
    auto res = call.problem({426, "upgrade_required", "WebSocket version 13 is required", {}, {}});
    res.set(http::field::upgrade, "websocket");
    res.set(http::field::sec_websocket_version, "13");
    return res;
  }
  // What the WebSocket accept checks too (RFC 6455 §4.2.1): refused here, as a problem,
  // before a subscription is taken; the accept would answer with a bare text 400.
  if (!is_websocket_key(req[http::field::sec_websocket_key]))
    return call.problem({400,
                         "bad_request",
                         "Sec-WebSocket-Key must be 16 bytes in base64 (24 characters)",
                         "Sec-WebSocket-Key",
                         {}});
  if (req.version() != 11)
    return call.problem({400, "bad_request", "a WebSocket handshake is HTTP/1.1", {}, {}});
  if (req.count(http::field::host) == 0)
    return call.problem({400, "bad_request", "Host is required", "Host", {}});
  LiveFeed::Refusal why;
  auto sub = feed_->subscribe(std::move(filter), why);
  if (!sub) {
    if (why == LiveFeed::Refusal::full)
      return call.problem({503,
                           "too_many_subscriptions",
                           "the server has as many live subscriptions as it takes",
                           {},
                           config_.retry_after_s});
    if (why == LiveFeed::Refusal::caller_full)
      return call.problem({429,
                           "too_many_subscriptions",
                           fmt::format("this caller already has {} live subscriptions open; close "
                                       "one first",
                                       feed_->max_per_caller()),
                           {},
                           config_.retry_after_s});
    if (why == LiveFeed::Refusal::stopped)
      return call.problem({503, "stopping", "the server is stopping", {}, config_.retry_after_s});
    return call.problem(
        {503, "storage_unavailable", "the log could not be read", {}, config_.retry_after_s});
  }
  // The token's exp (a wall-clock time, with the verifier's leeway) as a deadline on the
  // steady clock the session waits on. exp may be as large as int64: past a year, never.
  constexpr int64_t kYearS = 365LL * 24 * 3600;
  const int64_t now_s = clock_.now().value() / 1000;
  auto token_expires_at = std::chrono::steady_clock::time_point::max();
  int64_t ends_s = call.who.exp_s - now_s < kYearS ? call.who.exp_s + kJwtLeewayS : INT64_MAX;
  // A token that verifies only with a previous secret stops being accepted when the rotation
  // grace ends (app.cpp): so does its subscription, or a token made with a retired (perhaps
  // leaked) secret would keep its feed open after every request of it is refused.
  const int64_t grace_end_ms = config_.previous_secrets_until_ms;
  if (grace_end_ms != std::numeric_limits<int64_t>::max() && config_.jwt_secrets.size() > 1 &&
      !verify_jwt(bearer_token(req[http::field::authorization]), current_secret_, now_s))
    ends_s = std::min(ends_s, (grace_end_ms + 999) / 1000);  // not before REST refuses it
  if (ends_s != INT64_MAX)
    token_expires_at = std::chrono::steady_clock::now() +
                       std::chrono::seconds(std::max<int64_t>(0, ends_s - now_s));
  client.upgrade = std::make_shared<SubscribeSession>(*feed_, std::move(sub),
                                                      config_.live.write_timeout, token_expires_at);
  return Response{http::status::switching_protocols, req.version()};
}

}  // namespace ordo::api
