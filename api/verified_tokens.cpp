#include "api/verified_tokens.hpp"

#include <algorithm>

#include "engine/domain/assert.hpp"

namespace ordo::api {

VerifiedTokens::VerifiedTokens(size_t capacity) : capacity_(capacity) {
  ORDO_ASSERT(capacity_ > 0, "a token cache needs room for one entry");
}

Result<Claims> VerifiedTokens::verify(std::string_view token,
                                      const std::vector<std::string>& secrets, int64_t now_s) {
  if (token.size() > kMaxTokenBytes) return verify_jwt(token, secrets, now_s);
  {
    std::lock_guard lock(mu_);
    if (secrets != secrets_) {
      entries_.clear();
      secrets_ = secrets;
    }
    if (auto it = entries_.find(token); it != entries_.end()) {
      if (auto problem = token_time_problem(it->second, now_s)) {
        entries_.erase(it);  // expired for good (or not yet valid: verified again later)
        return Error{std::string(*problem)};
      }
      ++hits_;
      return it->second;
    }
  }
  // Verified outside the lock: the HMAC is the cost the cache is there to save.
  auto verified = verify_jwt(token, secrets, now_s);
  if (!verified) return verified;
  std::lock_guard lock(mu_);
  if (secrets != secrets_) return verified;  // the set changed meanwhile: do not file it
  if (entries_.size() >= capacity_ && !entries_.contains(token)) make_room(now_s);
  entries_.insert_or_assign(std::string(token), verified.value());
  ORDO_ASSERT(entries_.size() <= capacity_, "token cache over its bound");
  return verified;
}

void VerifiedTokens::make_room(int64_t now_s) {
  // Expired tokens first: clients refresh theirs, and the old ones are never sent again.
  std::erase_if(entries_,
                [now_s](const auto& e) { return token_time_problem(e.second, now_s).has_value(); });
  // Too few of them: start again. So a sweep is paid for by at least a quarter of the
  // capacity in insertions, and a cache full of live tokens costs each one verification more.
  const size_t want_free = std::max<size_t>(1, capacity_ / 4);
  if (capacity_ - entries_.size() < want_free) entries_.clear();
  ++sweeps_;
}

size_t VerifiedTokens::size() const {
  std::lock_guard lock(mu_);
  return entries_.size();
}

uint64_t VerifiedTokens::hits() const {
  std::lock_guard lock(mu_);
  return hits_;
}

uint64_t VerifiedTokens::sweeps() const {
  std::lock_guard lock(mu_);
  return sweeps_;
}

}  // namespace ordo::api
