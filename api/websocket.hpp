#pragma once
// WebSocket endpoints on the HTTP listener. A handler that accepts an upgrade answers 101 and
// leaves a WebSocketSession in ClientInfo::upgrade; the server then completes the handshake
// (with its own timeouts: handshake bounded by the read timeout, idle by the idle timeout, with
// keep-alive pings) and runs the session on the upgraded connection, plain or TLS.
#include <memory>

#include "api/http_types.hpp"

#include <boost/beast/ssl.hpp>
#include <boost/beast/websocket.hpp>
#include <boost/beast/websocket/ssl.hpp>

namespace ordo::api {

namespace websocket = beast::websocket;

using PlainWebSocket = websocket::stream<beast::tcp_stream&>;
using TlsWebSocket = websocket::stream<beast::ssl_stream<beast::tcp_stream>&>;

class WebSocketSession {
 public:
  virtual ~WebSocketSession() = default;
  // Runs after the handshake; the connection ends when this returns.
  virtual asio::awaitable<void> run(PlainWebSocket& ws) = 0;
  virtual asio::awaitable<void> run(TlsWebSocket& ws) = 0;
};

}  // namespace ordo::api
