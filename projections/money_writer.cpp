#include "projections/money_writer.hpp"

#include <string>
#include <tuple>

namespace ordo::projections {
namespace {

constexpr const char* kAt = "timestamptz 'epoch' + interval '1 millisecond' * ";

}  // namespace

// Optional texts travel as (text, present) pairs: COPY of std::optional needs libpqxx 7.
const char* const kMoneyStagingDdl = R"(
CREATE TEMP TABLE IF NOT EXISTS stage_wallets (
  owner text, currency text, balance_delta bigint, held_delta bigint, version bigint,
  updated_ms bigint) ON COMMIT DELETE ROWS;
CREATE TEMP TABLE IF NOT EXISTS stage_ledger_entries (
  partition int, log_offset bigint, idx int, account text, currency text, amount_minor bigint,
  type text, order_id text, occurred_ms bigint) ON COMMIT DELETE ROWS;
CREATE TEMP TABLE IF NOT EXISTS stage_escrows (
  order_id text, payment_id text, buyer text, seller text, currency text, amount_minor bigint,
  held_delta bigint, status text, fee_minor bigint, version bigint, updated_ms bigint)
  ON COMMIT DELETE ROWS;
CREATE TEMP TABLE IF NOT EXISTS stage_payments (
  payment_id text, order_id text, method text, buyer text, seller text, amount_minor bigint,
  currency text, status text, refunded_delta bigint, reason text, has_reason boolean,
  version bigint, updated_ms bigint) ON COMMIT DELETE ROWS;
CREATE TEMP TABLE IF NOT EXISTS stage_payouts (
  payout_id text, owner text, currency text, amount_minor bigint, destination text, status text,
  reason text, has_reason boolean, version bigint, updated_ms bigint) ON COMMIT DELETE ROWS;
CREATE TEMP TABLE IF NOT EXISTS stage_payout_releases (payout_id text, updated_ms bigint)
  ON COMMIT DELETE ROWS;
)";

void write_money_changes(pqxx::work& w, const MoneyChanges& m) {
  if (!m.entries.empty()) {
    {
      pqxx::stream_to s(
          w, "stage_ledger_entries",
          std::vector<std::string>{"partition", "log_offset", "idx", "account", "currency",
                                   "amount_minor", "type", "order_id", "occurred_ms"});
      for (const auto& e : m.entries)
        s << std::make_tuple(static_cast<int64_t>(e.partition), e.offset, e.idx, e.account,
                             e.currency, e.amount_minor, e.type, e.order_id.value_or(""),
                             e.occurred_ms);
      s.complete();
    }
    // Keyed by the leg's place in the log: a row already there is never written twice, and
    // only the rows written move their accounts' balances.
    w.exec(std::string(R"(
      WITH written AS (
        INSERT INTO ledger_entries (partition, log_offset, idx, account, currency, amount_minor,
                                    type, order_id, occurred_at)
        SELECT partition, log_offset, idx, account, currency, amount_minor, type, NULLIF(order_id, ''), )") +
           kAt + R"(occurred_ms
        FROM stage_ledger_entries
        ON CONFLICT (partition, log_offset, idx) DO NOTHING
        RETURNING account, currency, amount_minor)
      INSERT INTO account_balances AS b (account, currency, balance_minor)
      SELECT account, currency, sum(amount_minor) FROM written GROUP BY account, currency
      ON CONFLICT (account, currency) DO UPDATE SET
        balance_minor = b.balance_minor + EXCLUDED.balance_minor)");
  }
  if (!m.escrows.empty()) {
    {
      pqxx::stream_to s(w, "stage_escrows",
                        std::vector<std::string>{"order_id", "payment_id", "buyer", "seller",
                                                 "currency", "amount_minor", "held_delta", "status",
                                                 "fee_minor", "version", "updated_ms"});
      for (const auto& [id, x] : m.escrows)
        s << std::make_tuple(id, x.payment_id, x.buyer, x.seller, x.currency, x.amount_minor,
                             x.held_delta, x.status, x.fee_minor, x.version, x.updated_ms);
      s.complete();
    }
    w.exec(std::string(R"(
      INSERT INTO escrows AS x (order_id, payment_id, buyer, seller, currency, amount_minor, held_minor,
                                status, fee_minor, version, updated_at)
      SELECT order_id, payment_id, buyer, seller, currency, amount_minor, held_delta, status,
             GREATEST(fee_minor, 0), version, )") +
           kAt + R"(updated_ms
      FROM stage_escrows ORDER BY order_id
      ON CONFLICT (order_id) DO UPDATE SET
        held_minor = x.held_minor + EXCLUDED.held_minor,
        status = CASE WHEN EXCLUDED.status <> '' THEN EXCLUDED.status ELSE x.status END,
        fee_minor = CASE WHEN EXCLUDED.status = 'released' THEN EXCLUDED.fee_minor ELSE x.fee_minor END,
        version = GREATEST(x.version, EXCLUDED.version),
        updated_at = GREATEST(x.updated_at, EXCLUDED.updated_at))");
  }
  if (!m.payments.empty()) {
    {
      pqxx::stream_to s(
          w, "stage_payments",
          std::vector<std::string>{"payment_id", "order_id", "method", "buyer", "seller",
                                   "amount_minor", "currency", "status", "refunded_delta", "reason",
                                   "has_reason", "version", "updated_ms"});
      for (const auto& [id, p] : m.payments)
        s << std::make_tuple(id, p.order_id, p.method, p.buyer, p.seller, p.amount_minor,
                             p.currency, p.status, p.refunded_delta, p.reason.value_or(""),
                             p.reason.has_value(), p.version, p.updated_ms);
      s.complete();
    }
    // A refund that reaches the amount makes the payment refunded; a partial one leaves it.
    w.exec(std::string(R"(
      INSERT INTO payments AS p (payment_id, order_id, method, buyer, seller, amount_minor, currency,
                                 status, refunded_minor, reason, version, updated_at)
      SELECT payment_id, order_id, method, buyer, seller, amount_minor, currency, status, refunded_delta,
             CASE WHEN has_reason THEN reason END, version, )") +
           kAt + R"(updated_ms
      FROM stage_payments ORDER BY payment_id
      ON CONFLICT (payment_id) DO UPDATE SET
        status = CASE
          WHEN EXCLUDED.refunded_minor > 0 AND p.refunded_minor + EXCLUDED.refunded_minor >= p.amount_minor
            THEN 'refunded'
          WHEN EXCLUDED.status <> '' THEN EXCLUDED.status
          ELSE p.status END,
        refunded_minor = p.refunded_minor + EXCLUDED.refunded_minor,
        reason = coalesce(EXCLUDED.reason, p.reason),
        version = GREATEST(p.version, EXCLUDED.version),
        updated_at = GREATEST(p.updated_at, EXCLUDED.updated_at))");
  }
  if (!m.payouts.empty()) {
    {
      pqxx::stream_to s(
          w, "stage_payouts",
          std::vector<std::string>{"payout_id", "owner", "currency", "amount_minor", "destination",
                                   "status", "reason", "has_reason", "version", "updated_ms"});
      for (const auto& [id, p] : m.payouts)
        s << std::make_tuple(id, p.owner, p.currency, p.amount_minor, p.destination, p.status,
                             p.reason.value_or(""), p.reason.has_value(), p.version, p.updated_ms);
      s.complete();
    }
    w.exec(std::string(R"(
      INSERT INTO payouts AS p (payout_id, owner, currency, amount_minor, destination, status, reason,
                                version, updated_at)
      SELECT payout_id, owner, currency, amount_minor, destination, status,
             CASE WHEN has_reason THEN reason END, version, )") +
           kAt + R"(updated_ms
      FROM stage_payouts ORDER BY payout_id
      ON CONFLICT (payout_id) DO UPDATE SET
        status = EXCLUDED.status,
        reason = coalesce(EXCLUDED.reason, p.reason),
        version = GREATEST(p.version, EXCLUDED.version),
        updated_at = GREATEST(p.updated_at, EXCLUDED.updated_at))");
  }
  if (!m.wallets.empty() || !m.released_holds.empty()) {
    {
      pqxx::stream_to s(w, "stage_wallets",
                        std::vector<std::string>{"owner", "currency", "balance_delta", "held_delta",
                                                 "version", "updated_ms"});
      for (const auto& [key, c] : m.wallets)
        s << std::make_tuple(key.first, key.second, c.balance_delta, c.held_delta, c.version,
                             c.updated_ms);
      s.complete();
    }
    if (!m.released_holds.empty()) {
      pqxx::stream_to s(w, "stage_payout_releases",
                        std::vector<std::string>{"payout_id", "updated_ms"});
      for (const auto& r : m.released_holds) s << std::make_tuple(r.payout_id, r.updated_ms);
      s.complete();
    }
    // Balances and holds move by deltas, in one statement per batch (one lock per wallet,
    // taken in key order). A rejected payout's hold comes back by the payout's own amount.
    w.exec(std::string(R"(
      INSERT INTO wallets AS w (owner, currency, balance_minor, held_minor, version, updated_at)
      SELECT owner, currency, sum(balance_delta), sum(held_delta), max(version), )") +
           kAt + R"(max(updated_ms)
      FROM (SELECT owner, currency, balance_delta, held_delta, version, updated_ms FROM stage_wallets
            UNION ALL
            SELECT p.owner, p.currency, 0, -p.amount_minor, 0, r.updated_ms
            FROM stage_payout_releases r JOIN payouts p USING (payout_id)) d
      GROUP BY owner, currency ORDER BY owner, currency
      ON CONFLICT (owner, currency) DO UPDATE SET
        balance_minor = w.balance_minor + EXCLUDED.balance_minor,
        held_minor = w.held_minor + EXCLUDED.held_minor,
        version = GREATEST(w.version, EXCLUDED.version),
        updated_at = GREATEST(w.updated_at, EXCLUDED.updated_at))");
  }
}

}  // namespace ordo::projections
