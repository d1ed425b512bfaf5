-- legacy-commerce: one shared database for every domain (MariaDB, InnoDB, UTC session).
CREATE TABLE IF NOT EXISTS users (
    id          BIGINT       NOT NULL AUTO_INCREMENT PRIMARY KEY,
    name        VARCHAR(100) NOT NULL,
    email       VARCHAR(200) NOT NULL UNIQUE,
    created_at  DATETIME(6)  NOT NULL
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4;
CREATE TABLE IF NOT EXISTS points (
    user_id     BIGINT      NOT NULL PRIMARY KEY,
    balance     BIGINT      NOT NULL CHECK (balance >= 0),
    updated_at  DATETIME(6) NOT NULL,
    FOREIGN KEY (user_id) REFERENCES users (id)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4;
CREATE TABLE IF NOT EXISTS point_history (
    id            BIGINT      NOT NULL AUTO_INCREMENT PRIMARY KEY,
    user_id       BIGINT      NOT NULL,
    amount        BIGINT      NOT NULL,
    type          VARCHAR(16) NOT NULL,
    balance_after BIGINT      NOT NULL,
    order_id      BIGINT      NULL,
    created_at    DATETIME(6) NOT NULL,
    KEY point_history_user (user_id, id),
    FOREIGN KEY (user_id) REFERENCES users (id)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4;
CREATE TABLE IF NOT EXISTS products (
    id          BIGINT       NOT NULL AUTO_INCREMENT PRIMARY KEY,
    name        VARCHAR(200) NOT NULL,
    price       BIGINT       NOT NULL CHECK (price >= 0),
    stock       BIGINT       NOT NULL CHECK (stock >= 0),
    created_at  DATETIME(6)  NOT NULL
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4;
CREATE TABLE IF NOT EXISTS coupons (
    id              BIGINT       NOT NULL AUTO_INCREMENT PRIMARY KEY,
    name            VARCHAR(200) NOT NULL,
    discount_amount BIGINT       NOT NULL,
    max_issue       BIGINT       NOT NULL,
    issued_count    BIGINT       NOT NULL DEFAULT 0,
    status          VARCHAR(16)  NOT NULL,
    created_at      DATETIME(6)  NOT NULL
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4;
CREATE TABLE IF NOT EXISTS user_coupons (
    id          BIGINT      NOT NULL AUTO_INCREMENT PRIMARY KEY,
    user_id     BIGINT      NOT NULL,
    coupon_id   BIGINT      NOT NULL,
    issued_at   DATETIME(6) NOT NULL,
    used_at     DATETIME(6) NULL,
    order_id    BIGINT      NULL,
    UNIQUE KEY user_coupon_once (user_id, coupon_id),
    FOREIGN KEY (user_id) REFERENCES users (id),
    FOREIGN KEY (coupon_id) REFERENCES coupons (id)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4;
CREATE TABLE IF NOT EXISTS orders (
    id              BIGINT      NOT NULL AUTO_INCREMENT PRIMARY KEY,
    user_id         BIGINT      NOT NULL,
    status          VARCHAR(16) NOT NULL,
    total_amount    BIGINT      NOT NULL,
    discount_amount BIGINT      NOT NULL,
    paid_amount     BIGINT      NOT NULL,
    coupon_id       BIGINT      NULL,
    created_at      DATETIME(6) NOT NULL,
    KEY orders_created (created_at),
    FOREIGN KEY (user_id) REFERENCES users (id),
    FOREIGN KEY (coupon_id) REFERENCES coupons (id)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4;
CREATE TABLE IF NOT EXISTS order_items (
    id          BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY,
    order_id    BIGINT NOT NULL,
    product_id  BIGINT NOT NULL,
    quantity    BIGINT NOT NULL CHECK (quantity > 0),
    unit_price  BIGINT NOT NULL,
    FOREIGN KEY (order_id) REFERENCES orders (id),
    FOREIGN KEY (product_id) REFERENCES products (id)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4;
CREATE TABLE IF NOT EXISTS payments (
    id          BIGINT      NOT NULL AUTO_INCREMENT PRIMARY KEY,
    order_id    BIGINT      NOT NULL UNIQUE,
    user_id     BIGINT      NOT NULL,
    amount      BIGINT      NOT NULL,
    method      VARCHAR(16) NOT NULL,
    status      VARCHAR(16) NOT NULL,
    created_at  DATETIME(6) NOT NULL,
    FOREIGN KEY (order_id) REFERENCES orders (id),
    FOREIGN KEY (user_id) REFERENCES users (id)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4;
