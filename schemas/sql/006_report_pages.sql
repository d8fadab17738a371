-- The reports are read a page at a time, in their sort order, from a keyset cursor: these
-- indexes hold exactly that order, for one seller (a merchant) and for all (analyst, admin).
DROP INDEX sales_daily_seller;
CREATE INDEX sales_daily_seller ON sales_daily (seller_id, day, currency);
DROP INDEX products_low_stock;
CREATE INDEX products_low_stock ON products (seller_id, available, sku) WHERE available <= 10;
CREATE INDEX products_low_stock_all ON products (available, sku) WHERE available <= 10;
