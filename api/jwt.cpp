#include "api/jwt.hpp"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "api/base64url.hpp"
#include "engine/domain/types.hpp"
#include "engine/log/json.hpp"

namespace ordo::api {

std::string_view to_string(Role r) noexcept {
  switch (r) {
    case Role::customer:
      return "customer";
    case Role::merchant:
      return "merchant";
    case Role::finance:
      return "finance";
    case Role::admin:
      return "admin";
    case Role::auditor:
      return "auditor";
    case Role::analyst:
      return "analyst";
  }
  return "unknown";
}

std::optional<Role> parse_role(std::string_view s) noexcept {
  for (Role r :
       {Role::customer, Role::merchant, Role::finance, Role::admin, Role::auditor, Role::analyst})
    if (to_string(r) == s) return r;
  return std::nullopt;
}

std::string hmac_sha256(std::string_view key, std::string_view data) {
  unsigned char out[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()),
       reinterpret_cast<const unsigned char*>(data.data()), data.size(), out, &len);
  return std::string(reinterpret_cast<char*>(out), len);
}

bool constant_time_equal(std::string_view a, std::string_view b) noexcept {
  if (a.size() != b.size()) return false;
  return CRYPTO_memcmp(a.data(), b.data(), a.size()) == 0;
}

std::string sign_jwt(const Claims& c, std::string_view secret) {
  Json::Object claims{
      {"sub", Json(c.sub)}, {"role", Json(to_string(c.role))}, {"exp", Json(c.exp_s)}};
  if (c.nbf_s) claims.emplace("nbf", Json(*c.nbf_s));
  if (c.tier) claims.emplace("tier", Json(*c.tier));
  std::string signing_input = base64url_encode(R"({"alg":"HS256","typ":"JWT"})") + "." +
                              base64url_encode(to_canonical(Json(std::move(claims))));
  return signing_input + "." + base64url_encode(hmac_sha256(secret, signing_input));
}

Result<Claims> verify_jwt(std::string_view token, const std::vector<std::string>& secrets,
                          int64_t now_s) {
  if (token.size() > kMaxTokenBytes) return Error{"token too long"};
  size_t d1 = token.find('.');
  size_t d2 = d1 == std::string_view::npos ? d1 : token.find('.', d1 + 1);
  if (d2 == std::string_view::npos || token.find('.', d2 + 1) != std::string_view::npos)
    return Error{"token is not a JWS compact serialisation"};
  auto header_bytes = base64url_decode(token.substr(0, d1));
  auto claims_bytes = base64url_decode(token.substr(d1 + 1, d2 - d1 - 1));
  auto signature = base64url_decode(token.substr(d2 + 1));
  if (!header_bytes || !claims_bytes || !signature) return Error{"token is not base64url"};

  auto header = parse_json(*header_bytes);
  if (!header || !header->is_object()) return Error{"token header is not JSON"};
  const Json* alg = header->find("alg");
  if (!alg || !alg->is_string() || alg->as_string() != "HS256")
    return Error{"token algorithm must be HS256"};

  std::string_view signing_input = token.substr(0, d2);
  bool valid = false;
  for (const auto& secret : secrets)
    valid |= constant_time_equal(hmac_sha256(secret, signing_input), *signature);
  if (!valid) return Error{"token signature is invalid"};

  auto claims = parse_json(*claims_bytes);
  if (!claims || !claims->is_object()) return Error{"token claims are not JSON"};
  Claims c;
  const Json* sub = claims->find("sub");
  const Json* role = claims->find("role");
  const Json* exp = claims->find("exp");
  // The caller's name scopes its idempotency keys and is written into every event's actor:
  // an id, so it can neither collide with the engine's own keys nor carry text PostgreSQL
  // refuses.
  if (!sub || !sub->is_string() || !is_valid_id(sub->as_string()))
    return Error{"token needs a sub of 1..64 characters of [A-Za-z0-9._:-]"};
  if (!role || !role->is_string() || !parse_role(role->as_string()))
    return Error{"token needs a known role"};
  if (!exp || !exp->is_int()) return Error{"token needs exp"};
  c.sub = sub->as_string();
  c.role = *parse_role(role->as_string());
  c.exp_s = exp->as_int();
  // Checked as soon as each time claim is read (nbf is unset here), so an expired token is
  // refused as expired whatever else is wrong with it.
  if (auto problem = token_time_problem(c, now_s)) return Error{std::string(*problem)};
  if (const Json* nbf = claims->find("nbf")) {
    if (!nbf->is_int()) return Error{"token nbf must be an integer"};
    c.nbf_s = nbf->as_int();
    if (auto problem = token_time_problem(c, now_s)) return Error{std::string(*problem)};
  }
  if (const Json* tier = claims->find("tier")) {
    if (!tier->is_string()) return Error{"token tier must be a string"};
    c.tier = tier->as_string();
  }
  return c;
}

std::optional<std::string_view> token_time_problem(const Claims& c, int64_t now_s) noexcept {
  // The leeway goes on the clock's side: exp is the token's, and may be as large as int64.
  if (now_s - kJwtLeewayS > c.exp_s) return "token expired";
  if (c.nbf_s && now_s + kJwtLeewayS < *c.nbf_s) return "token not yet valid";
  return std::nullopt;
}

}  // namespace ordo::api
