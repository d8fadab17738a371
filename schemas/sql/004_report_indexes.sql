-- The merchant sales report and the low-stock report filter by seller (a merchant sees only
-- its own rows): without these they read every seller's rows, which grow with the history.
CREATE INDEX sales_daily_seller ON sales_daily (seller_id, day);
CREATE INDEX products_low_stock ON products (seller_id, available) WHERE available <= 10;
