#include "api/webhook_signature.hpp"

#include <fmt/core.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <charconv>
#include <optional>
#include <vector>

namespace ordo::api {
namespace {

constexpr size_t kMacBytes = 32;
constexpr size_t kMaxHeaderBytes = 1024;

std::vector<unsigned char> mac(std::string_view secret, int64_t t, std::string_view body) {
  std::string msg = fmt::format("{}.", t);
  msg.append(body);
  std::vector<unsigned char> out(EVP_MAX_MD_SIZE);
  unsigned int len = 0;
  HMAC(EVP_sha256(), secret.data(), static_cast<int>(secret.size()),
       reinterpret_cast<const unsigned char*>(msg.data()), msg.size(), out.data(), &len);
  out.resize(len);
  return out;
}

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

bool unhex(std::string_view hex, std::vector<unsigned char>& out) {
  if (hex.size() != kMacBytes * 2) return false;
  out.resize(kMacBytes);
  for (size_t i = 0; i < kMacBytes; ++i) {
    int hi = hex_value(hex[2 * i]), lo = hex_value(hex[2 * i + 1]);
    if (hi < 0 || lo < 0) return false;
    out[i] = static_cast<unsigned char>(hi * 16 + lo);
  }
  return true;
}

}  // namespace

std::string sign_webhook(std::string_view secret, int64_t t, std::string_view body) {
  std::string out = fmt::format("t={},v1=", t);
  for (unsigned char c : mac(secret, t, body)) out += fmt::format("{:02x}", c);
  return out;
}

Status verify_webhook_signature(std::string_view header, std::string_view body,
                                std::span<const std::string> secrets, int64_t now_s,
                                int64_t tolerance_s) {
  if (secrets.empty()) return Error{"webhooks are not configured"};
  if (header.empty()) return Error{"the Ordo-Signature header is missing"};
  if (header.size() > kMaxHeaderBytes) return Error{"the Ordo-Signature header is too long"};
  std::optional<int64_t> t;
  std::vector<std::vector<unsigned char>> candidates;
  while (!header.empty()) {
    size_t comma = header.find(',');
    std::string_view part = header.substr(0, comma);
    header = comma == std::string_view::npos ? std::string_view{} : header.substr(comma + 1);
    while (!part.empty() && part.front() == ' ') part.remove_prefix(1);
    if (part.starts_with("t=")) {
      int64_t v = 0;
      auto r = std::from_chars(part.data() + 2, part.data() + part.size(), v);
      if (r.ec != std::errc{} || r.ptr != part.data() + part.size())
        return Error{"the signature's t= is not a number"};
      t = v;
    } else if (part.starts_with("v1=")) {
      std::vector<unsigned char> m;
      if (unhex(part.substr(3), m)) candidates.push_back(std::move(m));
    }  // other schemes are ignored, as providers add new ones
  }
  if (!t) return Error{"the signature has no timestamp"};
  if (*t < now_s - tolerance_s || *t > now_s + tolerance_s)
    return Error{"the signature's timestamp is outside the tolerance (a replay?)"};
  if (candidates.empty()) return Error{"the signature has no v1 entry"};
  bool match = false;
  for (const auto& secret : secrets) {
    const auto want = mac(secret, *t, body);
    for (const auto& c : candidates)
      match |= want.size() == c.size() && CRYPTO_memcmp(want.data(), c.data(), c.size()) == 0;
  }
  if (!match) return Error{"the signature does not match"};
  return {};
}

}  // namespace ordo::api
