#pragma once
// <utility> before Asio: Boost 1.74's coroutine support needs std::exchange declared.
#include <memory>
#include <string>
#include <utility>

#include <boost/asio.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

namespace ordo::api {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;

using Request = http::request<http::string_body>;
using Response = http::response<http::string_body>;

class WebSocketSession;  // api/websocket.hpp

// What the server knows about the connection a request came on (the rate limiter keys
// unauthenticated callers by address).
struct ClientInfo {
  std::string address;  // e.g. "127.0.0.1"; "" when unknown
  // Set by a handler that answers 101 to a WebSocket upgrade: what then runs on the
  // connection (api/websocket.hpp). Reset by the server before each request.
  mutable std::shared_ptr<WebSocketSession> upgrade;
};

}  // namespace ordo::api
