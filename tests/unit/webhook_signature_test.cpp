// The payment provider's webhook signature: what is accepted and what is refused, in-process.
#include "api/webhook_signature.hpp"

#include <doctest/doctest.h>

#include <string>
#include <vector>

using namespace ordo;
using namespace ordo::api;

namespace {

const std::string kSecret = "whsec-current-0123456789abcdef0123456789";
const std::string kOld = "whsec-previous-0123456789abcdef012345678";
const std::string kBody = R"({"event_id":"ev-1","type":"payment.captured"})";
constexpr int64_t kNow = 1'800'000'000;

bool accepted(const std::string& header, const std::vector<std::string>& secrets = {kSecret},
              const std::string& body = kBody, int64_t now = kNow) {
  return verify_webhook_signature(header, body, secrets, now).ok();
}

// The v1 part of a signature made with `secret` at `t` over `body`.
std::string v1_of(const std::string& secret, int64_t t, const std::string& body = kBody) {
  const std::string h = sign_webhook(secret, t, body);
  return h.substr(h.find("v1="));
}

}  // namespace

TEST_CASE("webhook signature: the provider's own header is accepted, within the tolerance") {
  CHECK(accepted(sign_webhook(kSecret, kNow, kBody)));
  CHECK(accepted(sign_webhook(kSecret, kNow - kWebhookToleranceS, kBody)));
  CHECK(accepted(sign_webhook(kSecret, kNow + kWebhookToleranceS, kBody)));
  CHECK_FALSE(accepted(sign_webhook(kSecret, kNow - kWebhookToleranceS - 1, kBody)));
  CHECK_FALSE(accepted(sign_webhook(kSecret, kNow + kWebhookToleranceS + 1, kBody)));
}

TEST_CASE("webhook signature: several v1 entries, one of them right, are accepted") {
  const std::string wrong = v1_of("someone-else-0123456789abcdef0123456789", kNow);
  const std::string right = v1_of(kSecret, kNow);
  const std::string t = "t=" + std::to_string(kNow);
  CHECK(accepted(t + "," + wrong + "," + right));
  CHECK(accepted(t + ", " + right + "," + wrong));  // a space after a comma is allowed
  CHECK(accepted(right + "," + t));                 // any order
  CHECK(accepted(t + ",v0=abc," + right));          // unknown schemes are skipped
  CHECK_FALSE(accepted(t + "," + wrong + "," + wrong));
  CHECK_FALSE(accepted(t + ",v1=zz," + wrong));  // not hex: never matches
}

TEST_CASE("webhook signature: either secret during a rotation; none after") {
  const std::string by_old = sign_webhook(kOld, kNow, kBody);
  CHECK(accepted(by_old, {kSecret, kOld}));
  CHECK(accepted(sign_webhook(kSecret, kNow, kBody), {kSecret, kOld}));
  CHECK_FALSE(accepted(by_old, {kSecret}));
  CHECK_FALSE(verify_webhook_signature(by_old, kBody, {}, kNow).ok());  // not configured
}

TEST_CASE("webhook signature: another body, a moved timestamp or a malformed header is refused") {
  const std::string good = sign_webhook(kSecret, kNow, kBody);
  CHECK_FALSE(accepted(good, {kSecret}, kBody + " "));
  // The same v1 under another t: the MAC covers t.
  CHECK_FALSE(accepted("t=" + std::to_string(kNow + 1) + "," + v1_of(kSecret, kNow)));
  for (const std::string& bad :
       {std::string(), std::string("v1=") + std::string(64, 'a'), std::string("t=,v1=00"),
        std::string("t=12x,") + v1_of(kSecret, kNow), std::string("t=") + std::to_string(kNow),
        std::string(2000, 'a')}) {
    CAPTURE(bad);
    auto s = verify_webhook_signature(bad, kBody, std::vector<std::string>{kSecret}, kNow);
    CHECK_FALSE(s.ok());
    CHECK_FALSE(s.message().empty());
  }
}
