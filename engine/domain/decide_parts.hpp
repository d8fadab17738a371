#pragma once
// Internal to engine/domain: the decide, precondition and apply functions of the order
// lifecycle (lifecycle.cpp) and the ledger (ledger.cpp), one overload per command or event.
// decide.cpp dispatches to them.
#include <optional>
#include <string>

#include "engine/domain/decide.hpp"

namespace ordo::parts {

inline Rejection reject(RejectCode code, std::string detail) { return {code, std::move(detail)}; }

// Lifecycle commands.
Decision decide_cmd(const PartitionState& s, const PayOrder& c, const DecideContext& ctx);
Decision decide_cmd(const PartitionState& s, const ShipOrder& c, const DecideContext& ctx);
Decision decide_cmd(const PartitionState& s, const DeliverOrder& c, const DecideContext& ctx);
Decision decide_cmd(const PartitionState& s, const ConfirmOrder& c, const DecideContext& ctx);
Decision decide_cmd(const PartitionState& s, const DisputeOrder& c, const DecideContext& ctx);
Decision decide_cmd(const PartitionState& s, const ResolveDispute& c, const DecideContext& ctx);
Decision decide_cmd(const PartitionState& s, const MarkOrderPaid& c, const DecideContext& ctx);
Decision decide_cmd(const PartitionState& s, const MarkOrderPaymentFailed& c,
                    const DecideContext& ctx);
Decision decide_cmd(const PartitionState& s, const AutoCompleteOrder& c, const DecideContext& ctx);
Decision decide_cmd(const PartitionState& s, const MarkOrderRefunded& c, const DecideContext& ctx);
// A cancel of a paid order (refund and restock); decide.cpp handles a reserved one.
Decision decide_paid_cancel(const PartitionState& s, const Order& o, const CancelOrder& c);

// Ledger commands.
Decision decide_cmd(const PartitionState& s, const DepositToWallet& c, const DecideContext& ctx);
Decision decide_cmd(const PartitionState& s, const InitiatePayment& c, const DecideContext& ctx);
Decision decide_cmd(const PartitionState& s, const ApplyProviderEvent& c, const DecideContext& ctx);
Decision decide_cmd(const PartitionState& s, const ReleaseEscrow& c, const DecideContext& ctx);
Decision decide_cmd(const PartitionState& s, const RefundEscrow& c, const DecideContext& ctx);
Decision decide_cmd(const PartitionState& s, const RequestPayout& c, const DecideContext& ctx);
Decision decide_cmd(const PartitionState& s, const CompletePayout& c, const DecideContext& ctx);
Decision decide_cmd(const PartitionState& s, const RejectPayout& c, const DecideContext& ctx);

// The decision, or amount_overflow when its postings would take a wallet past its ceiling
// (a credit) or one of the platform's accounts past ±4·10^18 (away from zero): sums of
// balances then never leave int64.
Decision within_ceilings(const PartitionState& s, Decision decision);

// Why an event cannot follow this state (nullopt when it can). apply asserts it; the
// auditor's verify reports it.
using Why = std::optional<std::string>;
Why check_lifecycle(const PartitionState& s, const Event& e);
Why check_ledger(const PartitionState& s, const Event& e);

// Fold one lifecycle or ledger event; false when the event is not of that part.
bool apply_lifecycle(PartitionState& s, const Event& e);
bool apply_ledger(PartitionState& s, const Event& e);

// Invariants of the ledger part of a partition.
bool check_ledger_invariants(const PartitionState& s, std::string* why);

}  // namespace ordo::parts
