-- Daily sales sum order totals of up to 10^15 minor units each: a busy seller's day could
-- pass bigint (9.2 × 10^18), which would stop the projector for good. numeric has no such
-- ceiling; the counts stay bigint.
ALTER TABLE sales_daily
  ALTER COLUMN gross_minor TYPE numeric,
  ALTER COLUMN cancelled_minor TYPE numeric,
  ALTER COLUMN expired_minor TYPE numeric;
