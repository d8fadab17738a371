// libFuzzer target: the bearer-token verifier on arbitrary bytes. Every request's
// Authorization header reaches verify_jwt before anything else looks at it, so it must never
// crash, and what it accepts must be claims the access table may trust (a valid id as sub, a
// known role, a time window that holds now). A violation traps.
//
// The first input byte picks how the rest is used:
//   even: the rest is the token, as a client would send it (almost always refused by the
//         signature, so this mostly exercises the splitting and base64url);
//   odd:  the rest is a header and a claims text split at the first NUL, signed here with the
//         test secret, so the claims parsing behind the signature is reached too.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "api/base64url.hpp"
#include "api/jwt.hpp"
#include "engine/domain/types.hpp"
#include "engine/log/json.hpp"

using namespace ordo;
using namespace ordo::api;

namespace {

constexpr int64_t kNowS = 1'700'000'000;

void require(bool ok) {
  if (!ok) __builtin_trap();
}

const std::vector<std::string>& secrets() {
  static const std::vector<std::string> s{"fuzz-secret-current", "fuzz-secret-retired"};
  return s;
}

void check_accepted(const Claims& c) {
  require(is_valid_id(c.sub));
  require(parse_role(to_string(c.role)) == c.role);
  require(!token_time_problem(c, kNowS));
  // What was accepted signs back to a token that verifies to the same claims.
  auto again = verify_jwt(sign_jwt(c, secrets().front()), secrets(), kNowS);
  require(again.ok());
  require(again->sub == c.sub && again->role == c.role && again->exp_s == c.exp_s &&
          again->nbf_s == c.nbf_s && again->tier == c.tier);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const std::string_view rest(reinterpret_cast<const char*>(data) + 1, size - 1);
  std::string token;
  if ((data[0] & 1) == 0) {
    token = std::string(rest);
  } else {
    const size_t nul = rest.find('\0');
    const std::string_view header = rest.substr(0, nul);
    const std::string_view claims =
        nul == std::string_view::npos ? std::string_view{} : rest.substr(nul + 1);
    const std::string signing_input = base64url_encode(header) + "." + base64url_encode(claims);
    // The second secret when the selector's bit 1 is set: a retired one still in its grace.
    const std::string& secret = secrets()[(data[0] >> 1) & 1];
    token = signing_input + "." + base64url_encode(hmac_sha256(secret, signing_input));
  }
  auto verified = verify_jwt(token, secrets(), kNowS);
  if (verified.ok()) {
    check_accepted(verified.value());
    require(token.size() <= kMaxTokenBytes);
    // The algorithm is pinned: whatever was accepted says HS256 in its header.
    auto header = base64url_decode(std::string_view(token).substr(0, token.find('.')));
    require(header.has_value());
    auto parsed = parse_json(*header);
    require(parsed.ok() && parsed->is_object());
    const Json* alg = parsed->find("alg");
    require(alg && alg->is_string() && alg->as_string() == "HS256");
  } else {
    require(!verified.error().message.empty());
  }
  // Base64url has one encoding per byte string: what decodes re-encodes to the same text.
  if (auto decoded = base64url_decode(rest)) require(base64url_encode(*decoded) == rest);
  return 0;
}
