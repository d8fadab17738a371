#pragma once
// JWT HS256 (RFC 7519) for bearer tokens. The algorithm is pinned: a token whose header
// names anything but HS256 (`none`, RS256, …) is refused, so there is no algorithm confusion.
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "engine/log/result.hpp"

namespace ordo::api {

enum class Role { customer, merchant, finance, admin, auditor, analyst };

std::string_view to_string(Role r) noexcept;
std::optional<Role> parse_role(std::string_view s) noexcept;

struct Claims {
  std::string sub;
  Role role = Role::customer;
  int64_t exp_s = 0;                // required
  std::optional<int64_t> nbf_s;     // optional not-before
  std::optional<std::string> tier;  // "vip" gets served first under contention
  bool vip() const { return tier && *tier == "vip"; }
};

inline constexpr int64_t kJwtLeewayS = 30;  // tolerated clock skew
inline constexpr size_t kMaxTokenBytes = 4096;

std::string sign_jwt(const Claims& claims, std::string_view secret);

// Accepts a token signed with any of `secrets` (the current one first, then older ones still
// in their grace period). Error messages never contain the token or a secret.
Result<Claims> verify_jwt(std::string_view token, const std::vector<std::string>& secrets,
                          int64_t now_s);

// Why claims that verified are not valid at `now_s` (expired, or not yet valid), with the
// leeway above; nullopt when they are. verify_jwt applies it; so does a cache of its results.
std::optional<std::string_view> token_time_problem(const Claims& claims, int64_t now_s) noexcept;

// HMAC-SHA256 and a comparison that takes the same time whatever the inputs.
std::string hmac_sha256(std::string_view key, std::string_view data);
bool constant_time_equal(std::string_view a, std::string_view b) noexcept;

}  // namespace ordo::api
