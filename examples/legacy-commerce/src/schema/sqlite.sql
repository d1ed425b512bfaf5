-- legacy-commerce: one shared database for every domain (SQLite).
CREATE TABLE IF NOT EXISTS users (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    name        TEXT    NOT NULL,
    email       TEXT    NOT NULL UNIQUE,
    created_at  TEXT    NOT NULL
);
CREATE TABLE IF NOT EXISTS points (
    user_id     INTEGER PRIMARY KEY REFERENCES users (id),
    balance     INTEGER NOT NULL CHECK (balance >= 0),
    updated_at  TEXT    NOT NULL
);
CREATE TABLE IF NOT EXISTS point_history (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    user_id       INTEGER NOT NULL REFERENCES users (id),
    amount        INTEGER NOT NULL,
    type          TEXT    NOT NULL,
    balance_after INTEGER NOT NULL,
    order_id      INTEGER NULL,
    created_at    TEXT    NOT NULL
);
CREATE INDEX IF NOT EXISTS point_history_user ON point_history (user_id, id);
CREATE TABLE IF NOT EXISTS products (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    name        TEXT    NOT NULL,
    price       INTEGER NOT NULL CHECK (price >= 0),
    stock       INTEGER NOT NULL CHECK (stock >= 0),
    created_at  TEXT    NOT NULL
);
CREATE TABLE IF NOT EXISTS coupons (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    name            TEXT    NOT NULL,
    discount_amount INTEGER NOT NULL,
    max_issue       INTEGER NOT NULL,
    issued_count    INTEGER NOT NULL DEFAULT 0,
    status          TEXT    NOT NULL,
    created_at      TEXT    NOT NULL
);
CREATE TABLE IF NOT EXISTS user_coupons (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    user_id     INTEGER NOT NULL REFERENCES users (id),
    coupon_id   INTEGER NOT NULL REFERENCES coupons (id),
    issued_at   TEXT    NOT NULL,
    used_at     TEXT    NULL,
    order_id    INTEGER NULL,
    UNIQUE (user_id, coupon_id)
);
CREATE TABLE IF NOT EXISTS orders (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    user_id         INTEGER NOT NULL REFERENCES users (id),
    status          TEXT    NOT NULL,
    total_amount    INTEGER NOT NULL,
    discount_amount INTEGER NOT NULL,
    paid_amount     INTEGER NOT NULL,
    coupon_id       INTEGER NULL REFERENCES coupons (id),
    created_at      TEXT    NOT NULL
);
CREATE INDEX IF NOT EXISTS orders_created ON orders (created_at);
CREATE TABLE IF NOT EXISTS order_items (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    order_id    INTEGER NOT NULL REFERENCES orders (id),
    product_id  INTEGER NOT NULL REFERENCES products (id),
    quantity    INTEGER NOT NULL CHECK (quantity > 0),
    unit_price  INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS order_items_order ON order_items (order_id);
CREATE TABLE IF NOT EXISTS payments (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    order_id    INTEGER NOT NULL UNIQUE REFERENCES orders (id),
    user_id     INTEGER NOT NULL REFERENCES users (id),
    amount      INTEGER NOT NULL,
    method      TEXT    NOT NULL,
    status      TEXT    NOT NULL,
    created_at  TEXT    NOT NULL
);
