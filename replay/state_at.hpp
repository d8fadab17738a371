#pragma once
// Time travel by folding: the state of aggregates as of an offset or a time. The fold is the
// verifier's, so a state-at answer also vouches that the history up to it is intact.
#include <optional>
#include <string>

#include "engine/domain/state.hpp"
#include "engine/log/json.hpp"
#include "replay/event_source.hpp"
#include "replay/verifier.hpp"

namespace ordo::replay {

// Where each partition's fold stops. Offsets are per partition (as in `Ordo-Position`): the
// fold of every partition keeps events with offset <= `offset` (with `partition` set, only
// that partition is cut). A time keeps events with occurred_at <= `time_ms`, stopping each
// partition at its first later event (replay never reorders history by the clock).
struct Cut {
  std::optional<int64_t> offset;
  std::optional<int64_t> time_ms;
  std::optional<uint32_t> partition;
};

struct Folded {
  Verifier verifier;  // holds each partition's state
  VerifyReport report;
  // Product or order of a stream name (`product-…`, `order-…`), in whichever partition has it.
  const Product* product(const std::string& stream) const;
  const Order* order(const std::string& stream) const;
  // The state of any aggregate stream state-at knows (is_state_kind) as state-at prints it;
  // null when the stream does not exist at the cut. An error for another stream name.
  Result<Json> stream_state(const std::string& stream) const;
};

// The kinds state-at folds: product, order, wallet, payment, escrow, payout (each by its
// streams, `{kind}-…`), and account (the ledger; below).
// `--kind account`: the trial balance at the cut (not a stream kind).
inline constexpr std::string_view kAccountKind = "account";
bool is_state_kind(std::string_view kind);

// The ledger's trial balance as of the fold, in the shape of GET /v1/ledger/balances:
// {"accounts":[{account, currency, balance_minor}] (non-zero, by currency then account),
//  "totals":[{currency, total_minor}], "balanced": every total is 0}. Accounts are
// wallet:{owner} (its balance), escrow:{order_id} (what it still holds) and the others
// (platform:fees, external:bank, external:card). `balanced` is true on any history that
// folds (the ledger keeps every currency at 0); an error if an amount summed over partitions
// leaves int64 (a currency the engine keeps in one partition, spread over several).
Result<Json> trial_balance_json(const Folded& f);

// Folds `source` up to `cut`. An error when the history up to the cut does not verify.
Result<Folded> fold_until(EventSource& source, const Cut& cut, const Progress& progress = {});

Json product_json(const Product& p);
Json order_json(const Order& o);
Json wallet_json(const Wallet& w);
Json payment_json(const Payment& p);
Json escrow_json(const Escrow& e);
Json payout_json(const Payout& p);

// The CLI's answer: {"as_of":…, "stream":S, "state":{…}|null} for one stream,
// {"as_of":…, "kind":K, "states":[…]} for every stream of a kind, sorted by stream name, or
// {"as_of":…, "kind":"account", "accounts":…, "totals":…, "balanced":…} for the ledger.
Result<Json> state_at_json(const Folded& f, const Cut& cut,
                           const std::optional<std::string>& stream,
                           const std::optional<std::string>& kind);

}  // namespace ordo::replay
