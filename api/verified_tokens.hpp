#pragma once
// Bearer tokens already verified, so a client that sends the same token on every request
// pays the HMAC and the two JSON parses of verify_jwt once, not per request.
//
// What a hit still checks: the time (exp and nbf, with the same leeway and messages as
// verify_jwt), on every use. What an entry stands for: the exact token bytes, verified
// against one set of secrets; when the caller passes another set (the rotation grace ended)
// the cache is emptied, so a token signed with a retired secret cannot outlive the grace.
// Only successes are cached: a forged token is verified (and refused) every time.
//
// Lookups compare token bytes in constant time, so timing does not tell an attacker how
// much of a cached token its guess shares. Bounded: at most `capacity` entries; when full,
// expired ones are swept, and if that frees less than a quarter the cache starts again empty.
// A token is at most kMaxTokenBytes. Thread-safe.
#include <cstddef>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "api/jwt.hpp"

namespace ordo::api {

class VerifiedTokens {
 public:
  static constexpr size_t kDefaultCapacity = 2048;

  explicit VerifiedTokens(size_t capacity = kDefaultCapacity);

  // verify_jwt's contract and results, served from the cache when it can be.
  Result<Claims> verify(std::string_view token, const std::vector<std::string>& secrets,
                        int64_t now_s);

  size_t size() const;
  uint64_t hits() const;
  uint64_t sweeps() const;  // times it was full and made room

 private:
  // Transparent, so a lookup takes the request's token as it is, without a copy.
  struct TokenHash {
    using is_transparent = void;
    size_t operator()(std::string_view s) const noexcept {
      return std::hash<std::string_view>{}(s);
    }
  };
  struct ConstantTimeEqual {
    using is_transparent = void;
    bool operator()(std::string_view a, std::string_view b) const noexcept {
      return constant_time_equal(a, b);
    }
  };

  void make_room(int64_t now_s);  // with mu_ held

  const size_t capacity_;
  mutable std::mutex mu_;
  std::vector<std::string> secrets_;  // the set every entry was verified against
  std::unordered_map<std::string, Claims, TokenHash, ConstantTimeEqual> entries_;
  uint64_t hits_ = 0;
  uint64_t sweeps_ = 0;
};

}  // namespace ordo::api
