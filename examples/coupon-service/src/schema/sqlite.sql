-- coupon-service: the coupon domain's own database (SQLite).
-- Not a copy of the monolith's tables: columns are renamed, the status is a
-- SMALLINT (1 active, 2 paused), members are referenced by id only (users live
-- in another service), and issues are published through an outbox.
CREATE TABLE IF NOT EXISTS coupon (
    coupon_id       INTEGER PRIMARY KEY AUTOINCREMENT,
    title           TEXT     NOT NULL,
    discount_won    INTEGER  NOT NULL,
    quantity_total  INTEGER  NOT NULL,
    quantity_issued INTEGER  NOT NULL DEFAULT 0,
    state           SMALLINT NOT NULL,
    created_at      TEXT     NOT NULL
);
CREATE TABLE IF NOT EXISTS issued_coupon (
    issued_coupon_id INTEGER PRIMARY KEY AUTOINCREMENT,
    coupon_id        INTEGER NOT NULL REFERENCES coupon (coupon_id),
    member_id        INTEGER NOT NULL,
    issued_at        TEXT    NOT NULL,
    used_at          TEXT    NULL,
    order_ref        INTEGER NULL,
    UNIQUE (member_id, coupon_id)
);
CREATE TABLE IF NOT EXISTS coupon_outbox_event (
    event_id      INTEGER PRIMARY KEY AUTOINCREMENT,
    aggregate_id  INTEGER NOT NULL,
    event_type    TEXT    NOT NULL,
    payload       TEXT    NOT NULL,
    created_at    TEXT    NOT NULL,
    published_at  TEXT    NULL
);
