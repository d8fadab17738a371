-- Ordo read models, version 1. Released migrations are never edited; add a new file.
CREATE TABLE projection_checkpoints (
  projection text NOT NULL,
  partition int NOT NULL,
  position bigint NOT NULL,
  updated_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (projection, partition)
);

-- The whole history, for SQL. One row per event, as in the log.
CREATE TABLE events (
  partition int NOT NULL,
  log_offset bigint NOT NULL,
  stream text NOT NULL,
  stream_version bigint NOT NULL,
  type text NOT NULL,
  schema_version int NOT NULL,
  occurred_at timestamptz NOT NULL,
  command_id text NOT NULL,
  correlation_id text NOT NULL,
  causation_id text NOT NULL,
  actor_sub text NOT NULL,
  actor_role text NOT NULL,
  payload jsonb NOT NULL,
  prev_hash text NOT NULL,
  hash text NOT NULL,
  PRIMARY KEY (partition, log_offset)
);
CREATE INDEX events_stream ON events (stream, stream_version);
CREATE INDEX events_type_time ON events (type, occurred_at);

CREATE TABLE products (
  sku text PRIMARY KEY,
  seller_id text NOT NULL,
  name text NOT NULL,
  price_minor bigint NOT NULL,
  currency text NOT NULL,
  on_hand bigint NOT NULL,
  reserved bigint NOT NULL,
  available bigint GENERATED ALWAYS AS (on_hand - reserved) STORED,
  version bigint NOT NULL,
  updated_at timestamptz NOT NULL
);
CREATE INDEX products_seller ON products (seller_id, sku);

CREATE TABLE orders (
  order_id text PRIMARY KEY,
  customer_id text NOT NULL,
  seller_id text NOT NULL,
  status text NOT NULL,
  total_minor bigint NOT NULL,
  currency text NOT NULL,
  placed_at timestamptz NOT NULL,
  expires_at timestamptz NOT NULL,
  version bigint NOT NULL,
  updated_at timestamptz NOT NULL,
  partition int NOT NULL,
  last_offset bigint NOT NULL
);
CREATE INDEX orders_customer ON orders (customer_id, order_id);
CREATE INDEX orders_seller ON orders (seller_id, order_id);
CREATE INDEX orders_status ON orders (status, order_id);

CREATE TABLE order_lines (
  order_id text NOT NULL,
  line_no int NOT NULL,
  sku text NOT NULL,
  qty bigint NOT NULL,
  unit_price_minor bigint NOT NULL,
  PRIMARY KEY (order_id, line_no)
);

-- Analytics: orders placed per UTC day of placement, seller and currency, and how many of
-- them were later cancelled or expired (counted on the day they were placed).
CREATE TABLE sales_daily (
  day date NOT NULL,
  seller_id text NOT NULL,
  currency text NOT NULL,
  orders_placed bigint NOT NULL DEFAULT 0,
  units_placed bigint NOT NULL DEFAULT 0,
  gross_minor bigint NOT NULL DEFAULT 0,
  orders_cancelled bigint NOT NULL DEFAULT 0,
  cancelled_minor bigint NOT NULL DEFAULT 0,
  orders_expired bigint NOT NULL DEFAULT 0,
  expired_minor bigint NOT NULL DEFAULT 0,
  PRIMARY KEY (day, seller_id, currency)
);

-- Products whose available stock is at or below 10 units.
CREATE VIEW low_stock AS
  SELECT sku, seller_id, name, on_hand, reserved, available FROM products WHERE available <= 10;
