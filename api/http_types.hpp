#pragma once
// <utility> before Asio: Boost 1.74's coroutine support needs std::exchange declared.
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

// What the server knows about the connection a request came on (the rate limiter keys
// unauthenticated callers by address).
struct ClientInfo {
  std::string address;  // e.g. "127.0.0.1"; "" when unknown
};

}  // namespace ordo::api
