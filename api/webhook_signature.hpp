#pragma once
// The payment provider's webhook signature (DESIGN §7): header
//   Ordo-Signature: t={unix seconds},v1={hex HMAC-SHA256(secret, "{t}.{raw body}")}
// Refused when the timestamp is outside the tolerance (replay protection) or no v1 matches
// (compared in constant time). Several v1 entries and several secrets (rotation) are allowed.
#include <cstdint>
#include <span>
#include <string>
#include <string_view>

#include "engine/log/result.hpp"

namespace ordo::api {

inline constexpr int64_t kWebhookToleranceS = 300;

Status verify_webhook_signature(std::string_view header, std::string_view body,
                                std::span<const std::string> secrets, int64_t now_s,
                                int64_t tolerance_s = kWebhookToleranceS);

// The header value a provider would send; for tests and `ordo` development tools.
std::string sign_webhook(std::string_view secret, int64_t t, std::string_view body);

}  // namespace ordo::api
