#pragma once
// A small synchronous HTTP/1.1 client for tests: one keep-alive connection, reconnecting
// when the server closed it. Errors are reported in the response (status 0), never thrown.
#include <utility>

#include <boost/asio/connect.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <map>
#include <optional>
#include <string>

namespace ordo::test {

namespace beast = boost::beast;
namespace http = beast::http;
namespace asio = boost::asio;

struct HttpResult {
  int status = 0;  // 0: the connection failed
  std::string body;
  std::map<std::string, std::string> headers;
  std::string error;
  std::string header(const std::string& k) const {
    auto it = headers.find(k);
    return it == headers.end() ? "" : it->second;
  }
};

class HttpClient {
 public:
  explicit HttpClient(uint16_t port) : port_(port) {}

  HttpResult request(http::verb method, const std::string& target, const std::string& body = "",
                     const std::map<std::string, std::string>& headers = {}, bool json = true) {
    for (int attempt = 0; attempt < 2; ++attempt) {
      HttpResult r = once(method, target, body, headers, json);
      if (r.status != 0 || !reused_) return r;
      // A reused keep-alive connection may have been closed by the server; retry once fresh.
      close();
    }
    return {
        0,
        "",
        {},
        "unreachable",
    };
  }

  HttpResult post(const std::string& target, const std::string& body,
                  const std::map<std::string, std::string>& headers = {}) {
    return request(http::verb::post, target, body, headers);
  }
  HttpResult get(const std::string& target,
                 const std::map<std::string, std::string>& headers = {}) {
    return request(http::verb::get, target, "", headers, false);
  }

  void close() {
    if (stream_) {
      beast::error_code ec;
      stream_->socket().shutdown(asio::ip::tcp::socket::shutdown_both, ec);
    }
    stream_.reset();
  }

 private:
  HttpResult once(http::verb method, const std::string& target, const std::string& body,
                  const std::map<std::string, std::string>& headers, bool json) {
    HttpResult out;
    beast::error_code ec;
    reused_ = stream_.has_value();
    if (!stream_) {
      stream_.emplace(io_);
      stream_->expires_after(std::chrono::seconds(60));
      stream_->connect(asio::ip::tcp::endpoint(asio::ip::make_address("127.0.0.1"), port_), ec);
      if (ec) {
        stream_.reset();
        out.error = ec.message();
        return out;
      }
    }
    http::request<http::string_body> req{method, target, 11};
    req.set(http::field::host, "127.0.0.1");
    if (json && method == http::verb::post) req.set(http::field::content_type, "application/json");
    for (const auto& [k, v] : headers) req.set(k, v);
    req.body() = body;
    req.prepare_payload();
    req.keep_alive(true);
    stream_->expires_after(std::chrono::seconds(60));
    http::write(*stream_, req, ec);
    if (ec) {
      out.error = ec.message();
      close();
      return out;
    }
    beast::flat_buffer buffer;
    http::response_parser<http::string_body> parser;
    parser.body_limit(64 << 20);
    http::read(*stream_, buffer, parser, ec);
    if (ec) {
      out.error = ec.message();
      close();
      return out;
    }
    auto res = parser.release();
    out.status = static_cast<int>(res.result_int());
    out.body = res.body();
    for (const auto& f : res) out.headers[std::string(f.name_string())] = std::string(f.value());
    if (!res.keep_alive()) close();
    return out;
  }

  uint16_t port_;
  asio::io_context io_;
  std::optional<beast::tcp_stream> stream_;
  bool reused_ = false;
};

}  // namespace ordo::test
