#pragma once
// Double entry: every money movement is a transfer between named accounts, so the sum of
// all balances of a currency is always zero. Balances are derived from the postings of
// events; this file says which postings each event makes (used by apply, the views and the
// auditor's verify alike).
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "engine/domain/events.hpp"

namespace ordo {

inline constexpr std::string_view kPlatformFees = "platform:fees";
inline constexpr std::string_view kExternalBank = "external:bank";  // deposits in, payouts out
inline constexpr std::string_view kExternalCard = "external:card";  // card captures and refunds

inline std::string wallet_account(const OwnerId& owner) { return "wallet:" + owner.value(); }
inline std::string escrow_account(const OrderId& id) { return "escrow:" + id.value(); }

// One leg of a transfer: `amount_minor` is added to the account's balance (negative for
// the account the money leaves).
struct Posting {
  std::string account;
  Currency currency;
  int64_t amount_minor = 0;
  friend bool operator==(const Posting&, const Posting&) = default;
};

// The postings of an event; empty for events that move no money. They sum to zero.
std::vector<Posting> postings(const Event& e);

struct PartitionState;

// Every account a partition's ledger holds and its balance, in no particular order: each
// wallet (its balance), each escrow (what it still holds) and the accounts that are neither
// (platform fees, the external bank and card). The check that each currency sums to zero and
// the auditor's trial balance (`ordo replay state-at --kind account`) count these same ones.
void for_each_account(const PartitionState& s,
                      const std::function<void(std::string_view currency, std::string_view account,
                                               int64_t balance_minor)>& visit);

// The platform's fee on an amount, rounded down (the seller keeps the remainder).
int64_t platform_fee_minor(int64_t amount_minor, int64_t fee_bps) noexcept;

}  // namespace ordo
