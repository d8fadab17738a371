#pragma once
// The pure fold of the money events into the row changes of the money views: wallets,
// ledger_entries, escrows, payments and payouts. Balances move by deltas (the postings of
// engine/domain/ledger.hpp); the writer applies them once, because events at or before the
// checkpoint never reach this fold.
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "engine/domain/events.hpp"
#include "engine/log/envelope.hpp"

namespace ordo::projections {

struct WalletChange {
  int64_t balance_delta = 0;
  int64_t held_delta = 0;  // payout holds requested (+) and completed (−) in this batch
  int64_t version = 0;     // highest stream version of the wallet's own stream
  int64_t updated_ms = 0;
};

// One leg of a posting: a row of ledger_entries.
struct EntryRow {
  uint32_t partition = 0;
  int64_t offset = 0;
  int64_t idx = 0;
  std::string account, currency;
  int64_t amount_minor = 0;
  std::string type;
  std::optional<std::string> order_id;
  int64_t occurred_ms = 0;
};

struct EscrowChange {
  bool held = false;  // EscrowHeld in this batch: insert the row
  std::string payment_id, buyer, seller, currency;
  int64_t amount_minor = 0;
  int64_t held_delta = 0;  // the escrow account's postings
  std::string status;      // "" = unchanged
  int64_t fee_minor = -1;  // set by EscrowReleased
  int64_t version = 0;
  int64_t updated_ms = 0;
};

struct PaymentChange {
  bool initiated = false;  // PaymentInitiated in this batch: insert the row
  std::string order_id, method, buyer, seller, currency;
  int64_t amount_minor = 0;
  std::string status;  // "" = unchanged; a refund reaching the amount makes it "refunded"
  int64_t refunded_delta = 0;
  std::optional<std::string> reason;
  int64_t version = 0;
  int64_t updated_ms = 0;
};

struct PayoutChange {
  bool requested = false;  // PayoutRequested in this batch: insert the row
  std::string owner, currency, destination;
  int64_t amount_minor = 0;
  std::string status;
  std::optional<std::string> reason;
  int64_t version = 0;
  int64_t updated_ms = 0;
};

// A rejected payout gives its hold back; the amount is the payout row's.
struct PayoutRelease {
  std::string payout_id;
  int64_t updated_ms = 0;
};

struct MoneyChanges {
  std::map<std::pair<std::string, std::string>, WalletChange> wallets;  // owner, currency
  std::vector<EntryRow> entries;
  std::map<std::string, EscrowChange> escrows;
  std::map<std::string, PaymentChange> payments;
  std::map<std::string, PayoutChange> payouts;
  std::vector<PayoutRelease> released_holds;

  // Folds a money event; false for events that are not the ledger's.
  bool add(const Envelope& envelope, const Event& event);
  bool empty() const {
    return wallets.empty() && entries.empty() && escrows.empty() && payments.empty() &&
           payouts.empty() && released_holds.empty();
  }
};

}  // namespace ordo::projections
