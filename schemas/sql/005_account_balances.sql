-- Each account's balance per currency, kept by the projector in the same transaction as the
-- postings it adds up, so the trial balance reads one row per account with money on it
-- instead of summing every posting ever made. numeric: an external account's running total
-- is not bounded by any one movement. Existing postings are summed once, here.
CREATE TABLE account_balances (
  account text NOT NULL,
  currency text NOT NULL,
  balance_minor numeric NOT NULL,
  PRIMARY KEY (account, currency)
);
INSERT INTO account_balances (account, currency, balance_minor)
  SELECT account, currency, sum(amount_minor) FROM ledger_entries GROUP BY account, currency;
-- Most accounts end at zero (an order's escrow once released or refunded).
CREATE INDEX account_balances_nonzero ON account_balances (currency, account)
  WHERE balance_minor <> 0;
