-- Ordo read models, version 2: the money side. Released migrations are never edited; add a new file.

-- One row per owner and currency. balance_minor is the sum of the wallet's postings;
-- held_minor is what requested payouts keep aside until they complete or are rejected.
-- version is the stream version of wallet-{owner}.{currency} (its deposits).
CREATE TABLE wallets (
  owner text NOT NULL,
  currency text NOT NULL,
  balance_minor bigint NOT NULL,
  held_minor bigint NOT NULL,
  available_minor bigint GENERATED ALWAYS AS (balance_minor - held_minor) STORED,
  version bigint NOT NULL,
  updated_at timestamptz NOT NULL,
  PRIMARY KEY (owner, currency)
);

-- The double-entry postings, one row per leg (engine/domain/ledger.hpp: postings()). The
-- legs of one event sum to zero, so every currency's total is zero.
CREATE TABLE ledger_entries (
  partition int NOT NULL,
  log_offset bigint NOT NULL,
  idx int NOT NULL,
  account text NOT NULL,
  currency text NOT NULL,
  amount_minor bigint NOT NULL,
  type text NOT NULL,
  order_id text,
  occurred_at timestamptz NOT NULL,
  PRIMARY KEY (partition, log_offset, idx)
);
CREATE INDEX ledger_entries_account ON ledger_entries (account, occurred_at, partition, log_offset, idx);

-- Statuses: escrows held | released | refunded; payments pending | captured | failed |
-- refunded (method wallet | card); payouts requested | completed | rejected. (No CHECK: an
-- upsert's partial row is checked before it meets its conflict.)
CREATE TABLE escrows (
  order_id text PRIMARY KEY,
  payment_id text NOT NULL,
  buyer text NOT NULL,
  seller text NOT NULL,
  currency text NOT NULL,
  amount_minor bigint NOT NULL,
  held_minor bigint NOT NULL,
  status text NOT NULL,
  fee_minor bigint NOT NULL,
  version bigint NOT NULL,
  updated_at timestamptz NOT NULL
);

CREATE TABLE payments (
  payment_id text PRIMARY KEY,
  order_id text NOT NULL,
  method text NOT NULL,
  buyer text NOT NULL,
  seller text NOT NULL,
  amount_minor bigint NOT NULL,
  currency text NOT NULL,
  status text NOT NULL,
  refunded_minor bigint NOT NULL,
  reason text,
  version bigint NOT NULL,
  updated_at timestamptz NOT NULL
);
CREATE INDEX payments_order ON payments (order_id);

CREATE TABLE payouts (
  payout_id text PRIMARY KEY,
  owner text NOT NULL,
  currency text NOT NULL,
  amount_minor bigint NOT NULL,
  destination text NOT NULL,
  status text NOT NULL,
  reason text,
  version bigint NOT NULL,
  updated_at timestamptz NOT NULL
);
CREATE INDEX payouts_owner ON payouts (owner, payout_id);
