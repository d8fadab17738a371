// Optional TLS: with --tls-cert/--tls-key the server speaks HTTPS (TLS 1.2+) and nothing else.
#include <boost/asio/ssl.hpp>
#include <boost/beast/ssl.hpp>
#include <cstdlib>

#include "tests/e2e/e2e_helpers.hpp"
#include "tests/security/security_helpers.hpp"

using namespace ordo;
using namespace ordo::test;
using api::Role;
namespace ssl = boost::asio::ssl;

namespace {

// One HTTPS request; status 0 when the TLS handshake or the exchange fails.
HttpResult https_get(uint16_t port, const std::string& target, const std::string& ca_file,
                     const std::map<std::string, std::string>& headers = {},
                     ssl::context::method method = ssl::context::tls_client) {
  HttpResult out;
  asio::io_context io;
  ssl::context ctx(method);
  ctx.load_verify_file(ca_file);
  ctx.set_verify_mode(ssl::verify_peer);
  beast::ssl_stream<beast::tcp_stream> stream(io, ctx);
  beast::error_code ec;
  beast::get_lowest_layer(stream).expires_after(std::chrono::seconds(30));
  beast::get_lowest_layer(stream).connect(
      asio::ip::tcp::endpoint(asio::ip::make_address("127.0.0.1"), port), ec);
  if (!ec) stream.handshake(ssl::stream_base::client, ec);
  if (ec) {
    out.error = ec.message();
    return out;
  }
  http::request<http::string_body> req{http::verb::get, target, 11};
  req.set(http::field::host, "127.0.0.1");
  for (const auto& [k, v] : headers) req.set(k, v);
  http::write(stream, req, ec);
  beast::flat_buffer buffer;
  http::response<http::string_body> res;
  if (!ec) http::read(stream, buffer, res, ec);
  if (ec) {
    out.error = ec.message();
    return out;
  }
  out.status = static_cast<int>(res.result_int());
  out.body = res.body();
  stream.shutdown(ec);
  return out;
}

}  // namespace

TEST_CASE("TLS: --tls-cert/--tls-key serve HTTPS with the same API; plain HTTP gets nothing") {
  TempDir dir{"tls"};
  const std::string cert = dir.path() + "/cert.pem", key = dir.path() + "/key.pem";
  make_self_signed_cert(cert, key);
  ServerProcess server{dir.path() + "/data", {"--tls-cert", cert, "--tls-key", key}};
  server.start();

  // Readiness is polled (bounded): the port file appears just before the listener serves.
  HttpResult live;
  for (int i = 0; i < 200 && live.status != 200; ++i)
    live = https_get(server.port(), "/livez", cert);
  REQUIRE_MESSAGE(live.status == 200, live.error);
  auto r = https_get(server.port(), "/v1/events", cert, bearer(token("aud", Role::auditor)));
  CHECK(r.status == 200);
  CHECK(https_get(server.port(), "/v1/events", cert).status == 401);

  // A plain-HTTP request to the HTTPS port is not served.
  HttpClient plain(server.port());
  CHECK(plain.get("/livez").status == 0);
  // Nor is a client limited to TLS 1.1.
  CHECK(https_get(server.port(), "/livez", cert, {}, ssl::context::tlsv11_client).status == 0);
  CHECK(https_get(server.port(), "/livez", cert).status == 200);
}

TEST_CASE("TLS: a certificate without its key stops the server from starting") {
  TempDir dir{"tls-bad"};
  const std::string cert = dir.path() + "/cert.pem";
  std::ofstream(cert) << "not a certificate\n";
  ServerProcess server{dir.path() + "/data", {"--tls-cert", cert, "--tls-key", cert}};
  CHECK_THROWS(server.start());
}
