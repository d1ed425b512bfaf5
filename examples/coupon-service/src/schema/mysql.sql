-- coupon-service: the coupon domain's own database (MariaDB). See sqlite.sql.
CREATE TABLE IF NOT EXISTS coupon (
    coupon_id       BIGINT       NOT NULL AUTO_INCREMENT PRIMARY KEY,
    title           VARCHAR(200) NOT NULL,
    discount_won    BIGINT       NOT NULL,
    quantity_total  BIGINT       NOT NULL,
    quantity_issued BIGINT       NOT NULL DEFAULT 0,
    state           SMALLINT     NOT NULL,
    created_at      DATETIME(6)  NOT NULL
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4;
CREATE TABLE IF NOT EXISTS issued_coupon (
    issued_coupon_id BIGINT      NOT NULL AUTO_INCREMENT PRIMARY KEY,
    coupon_id        BIGINT      NOT NULL,
    member_id        BIGINT      NOT NULL,
    issued_at        DATETIME(6) NOT NULL,
    used_at          DATETIME(6) NULL,
    order_ref        BIGINT      NULL,
    UNIQUE KEY issued_once (member_id, coupon_id),
    FOREIGN KEY (coupon_id) REFERENCES coupon (coupon_id)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4;
CREATE TABLE IF NOT EXISTS coupon_outbox_event (
    event_id      BIGINT      NOT NULL AUTO_INCREMENT PRIMARY KEY,
    aggregate_id  BIGINT      NOT NULL,
    event_type    VARCHAR(64) NOT NULL,
    payload       TEXT        NOT NULL,
    created_at    DATETIME(6) NOT NULL,
    published_at  DATETIME(6) NULL
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4;
