// The cache of verified bearer tokens must answer exactly as verify_jwt would: a hit still
// enforces exp and nbf, a forged or altered token never rides on a cached one, a token
// signed with a retired secret stops working when the grace ends, and the cache stays bounded.
#include <doctest/doctest.h>

#include <string>
#include <vector>

#include "api/jwt.hpp"
#include "api/verified_tokens.hpp"

using namespace ordo::api;

namespace {

const std::string kSecret = "current-secret-0123456789abcdef0123456789";
const std::string kOld = "previous-secret-0123456789abcdef012345678";
constexpr int64_t kNow = 1'800'000'000;

std::string token_for(const std::string& sub, int64_t exp, const std::string& secret,
                      std::optional<int64_t> nbf = std::nullopt) {
  Claims c;
  c.sub = sub;
  c.role = Role::merchant;
  c.exp_s = exp;
  c.nbf_s = nbf;
  return sign_jwt(c, secret);
}

}  // namespace

TEST_CASE("verified tokens: a repeated token is served from the cache with its claims") {
  VerifiedTokens cache;
  const std::string t = token_for("acme", kNow + 600, kSecret);
  auto first = cache.verify(t, {kSecret}, kNow);
  REQUIRE(first.ok());
  CHECK(cache.hits() == 0);
  auto second = cache.verify(t, {kSecret}, kNow + 1);
  REQUIRE(second.ok());
  CHECK(cache.hits() == 1);
  CHECK(second.value().sub == "acme");
  CHECK(second.value().role == Role::merchant);
  CHECK(second.value().exp_s == kNow + 600);
}

TEST_CASE("verified tokens: a cached token still expires, with verify_jwt's leeway and message") {
  VerifiedTokens cache;
  const std::string t = token_for("acme", kNow + 60, kSecret);
  REQUIRE(cache.verify(t, {kSecret}, kNow).ok());
  CHECK(cache.verify(t, {kSecret}, kNow + 60 + kJwtLeewayS).ok());  // inside the leeway
  auto late = cache.verify(t, {kSecret}, kNow + 60 + kJwtLeewayS + 1);
  REQUIRE_FALSE(late.ok());
  CHECK(late.error().message ==
        verify_jwt(t, {kSecret}, kNow + 60 + kJwtLeewayS + 1).error().message);
  CHECK(late.error().message == "token expired");
  CHECK(cache.size() == 0);  // dropped, not kept to be refused again
}

TEST_CASE(
    "verified tokens: a token refused for its nbf is not cached, and is accepted once valid") {
  VerifiedTokens cache;
  const std::string t = token_for("acme", kNow + 600, kSecret, kNow + 100);
  auto early = cache.verify(t, {kSecret}, kNow);
  REQUIRE_FALSE(early.ok());
  CHECK(early.error().message == "token not yet valid");
  CHECK(cache.size() == 0);
  CHECK(cache.verify(t, {kSecret}, kNow + 100).ok());
  // The clock stepping back before nbf refuses it again, cached or not.
  auto stepped_back = cache.verify(t, {kSecret}, kNow);
  REQUIRE_FALSE(stepped_back.ok());
  CHECK(stepped_back.error().message == "token not yet valid");
}

TEST_CASE(
    "verified tokens: forged and altered tokens are refused even when the real one is cached") {
  VerifiedTokens cache;
  const std::string good = token_for("acme", kNow + 600, kSecret);
  REQUIRE(cache.verify(good, {kSecret}, kNow).ok());
  std::string altered = good;
  altered.back() = altered.back() == 'A' ? 'B' : 'A';
  CHECK_FALSE(cache.verify(altered, {kSecret}, kNow).ok());
  CHECK_FALSE(cache.verify(good + "A", {kSecret}, kNow).ok());
  CHECK_FALSE(cache.verify(good.substr(0, good.size() - 1), {kSecret}, kNow).ok());
  CHECK_FALSE(cache
                  .verify(token_for("acme", kNow + 600, "an attacker's secret, 32 bytes long!"),
                          {kSecret}, kNow)
                  .ok());
  CHECK(cache.size() == 1);  // refusals are never filed
  CHECK(cache.verify(good, {kSecret}, kNow).ok());
}

TEST_CASE(
    "verified tokens: a token signed with the previous secret stops working when the grace ends") {
  VerifiedTokens cache;
  const std::string old_signed = token_for("acme", kNow + 600, kOld);
  const std::string new_signed = token_for("acme", kNow + 600, kSecret);
  const std::vector<std::string> during_grace{kSecret, kOld};
  const std::vector<std::string> after_grace{kSecret};
  REQUIRE(cache.verify(old_signed, during_grace, kNow).ok());
  REQUIRE(cache.verify(new_signed, during_grace, kNow).ok());
  CHECK(cache.verify(old_signed, during_grace, kNow).ok());
  auto refused = cache.verify(old_signed, after_grace, kNow + 1);
  REQUIRE_FALSE(refused.ok());
  CHECK(refused.error().message == "token signature is invalid");
  CHECK(cache.verify(new_signed, after_grace, kNow + 1).ok());
}

TEST_CASE("verified tokens: the cache holds at most its capacity, and every token still verifies") {
  VerifiedTokens cache(8);
  std::vector<std::string> tokens;
  for (int i = 0; i < 50; ++i)
    tokens.push_back(token_for("user" + std::to_string(i), kNow + 600, kSecret));
  for (const auto& t : tokens) {
    REQUIRE(cache.verify(t, {kSecret}, kNow).ok());
    REQUIRE(cache.size() <= 8);
  }
  CHECK(cache.sweeps() > 0);
  for (int i = 0; i < 50; ++i) {
    auto r = cache.verify(tokens[i], {kSecret}, kNow);
    REQUIRE(r.ok());
    CHECK(r.value().sub == "user" + std::to_string(i));
    CHECK(cache.size() <= 8);
  }
}

TEST_CASE("verified tokens: when full, expired tokens make room and live ones stay cached") {
  VerifiedTokens cache(8);
  std::vector<std::string> short_lived, long_lived;
  for (int i = 0; i < 6; ++i)
    short_lived.push_back(token_for("old" + std::to_string(i), kNow + 60, kSecret));
  for (int i = 0; i < 2; ++i)
    long_lived.push_back(token_for("live" + std::to_string(i), kNow + 6000, kSecret));
  for (const auto& t : short_lived) REQUIRE(cache.verify(t, {kSecret}, kNow).ok());
  for (const auto& t : long_lived) REQUIRE(cache.verify(t, {kSecret}, kNow).ok());
  REQUIRE(cache.size() == 8);

  const int64_t later = kNow + 60 + kJwtLeewayS + 1;  // the six short-lived ones expired
  REQUIRE(cache.verify(token_for("new", kNow + 6000, kSecret), {kSecret}, later).ok());
  CHECK(cache.sweeps() == 1);
  CHECK(cache.size() == 3);  // two live ones kept, the new one added
  const uint64_t hits_before = cache.hits();
  for (const auto& t : long_lived) CHECK(cache.verify(t, {kSecret}, later).ok());
  CHECK(cache.hits() == hits_before + 2);
  for (const auto& t : short_lived) CHECK_FALSE(cache.verify(t, {kSecret}, later).ok());
}

TEST_CASE(
    "verified tokens: a full cache of live tokens starts again rather than sweep per insert") {
  VerifiedTokens cache(8);
  for (int i = 0; i < 8; ++i)
    REQUIRE(cache.verify(token_for("u" + std::to_string(i), kNow + 600, kSecret), {kSecret}, kNow)
                .ok());
  REQUIRE(cache.verify(token_for("u8", kNow + 600, kSecret), {kSecret}, kNow).ok());
  CHECK(cache.sweeps() == 1);
  CHECK(cache.size() == 1);
  // The next seven fit without another sweep.
  for (int i = 9; i < 16; ++i)
    REQUIRE(cache.verify(token_for("u" + std::to_string(i), kNow + 600, kSecret), {kSecret}, kNow)
                .ok());
  CHECK(cache.sweeps() == 1);
  CHECK(cache.size() == 8);
}

TEST_CASE(
    "verified tokens: an oversized token is refused as verify_jwt refuses it, and not filed") {
  VerifiedTokens cache;
  std::string huge(kMaxTokenBytes + 1, 'a');
  auto r = cache.verify(huge, {kSecret}, kNow);
  REQUIRE_FALSE(r.ok());
  CHECK(r.error().message == "token too long");
  CHECK(cache.size() == 0);
}

TEST_CASE("jwt: an exp at the top of int64 does not overflow the leeway") {
  const std::string t = token_for("acme", std::numeric_limits<int64_t>::max(), kSecret);
  CHECK(verify_jwt(t, {kSecret}, kNow).ok());
}
