//! The JSON the service answers with: the monolith's contract, or with quirks
//! the differences a rewrite typically introduces.

use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::{Value, json};

use crate::kit::time;

/// The `coupon.state` values: stored as numbers here, as text in the monolith.
pub(super) const STATE_ACTIVE: i16 = 1;
pub(super) const STATE_PAUSED: i16 = 2;

#[derive(Debug, sqlx::FromRow)]
pub(super) struct Coupon {
    pub(super) coupon_id: i64,
    pub(super) title: String,
    pub(super) discount_won: i64,
    pub(super) quantity_total: i64,
    pub(super) quantity_issued: i64,
    pub(super) state: i16,
    pub(super) created_at: DateTime<Utc>,
}

#[derive(Debug, sqlx::FromRow)]
pub(super) struct IssuedCoupon {
    pub(super) issued_coupon_id: i64,
    pub(super) member_id: i64,
    pub(super) coupon_id: i64,
    pub(super) title: String,
    pub(super) discount_won: i64,
    pub(super) issued_at: DateTime<Utc>,
    pub(super) used_at: Option<DateTime<Utc>>,
    pub(super) order_ref: Option<i64>,
}

pub(super) const ISSUED_COUPON_COLUMNS: &str = "SELECT i.issued_coupon_id, i.member_id, i.coupon_id, c.title, \
     c.discount_won, i.issued_at, i.used_at, i.order_ref \
     FROM issued_coupon i JOIN coupon c ON c.coupon_id = i.coupon_id";

/// Renders answers in the monolith's contract, or with the rewrite's quirks.
#[derive(Debug, Clone, Copy)]
pub(super) struct Views {
    pub(super) quirks: bool,
}

impl Views {
    pub(super) fn coupon(self, c: &Coupon) -> Value {
        let mut view = json!({
            "id": c.coupon_id,
            "name": c.title,
            "discountAmount": self.amount(c.discount_won),
            "maxIssue": c.quantity_total,
            "issuedCount": c.quantity_issued,
            "remaining": c.quantity_total - c.quantity_issued,
            "status": state_name(c.state),
            "createdAt": self.timestamp(c.created_at),
        });
        if self.quirks {
            view["couponType"] = json!("FIXED_AMOUNT");
        }
        view
    }

    pub(super) fn issued(self, i: &IssuedCoupon) -> Value {
        json!({
            "id": i.issued_coupon_id,
            "userId": i.member_id,
            "couponId": i.coupon_id,
            "name": i.title,
            "discountAmount": self.amount(i.discount_won),
            "issuedAt": self.timestamp(i.issued_at),
            "usedAt": i.used_at.map(|t| self.timestamp(t)),
            "orderId": i.order_ref,
        })
    }

    /// A member's coupons: oldest first like the monolith, newest first with quirks.
    pub(super) fn member_coupons(self, member_id: i64, mut held: Vec<IssuedCoupon>) -> Value {
        if self.quirks {
            held.reverse();
        }
        let coupons: Vec<Value> = held.iter().map(|i| self.issued(i)).collect();
        json!({ "userId": member_id, "coupons": coupons })
    }

    fn amount(self, won: i64) -> Value {
        if self.quirks {
            json!(won.to_string())
        } else {
            json!(won)
        }
    }

    fn timestamp(self, t: DateTime<Utc>) -> String {
        if self.quirks {
            // `2026-01-09T10:35:25+00:00`: the same instant, another spelling.
            t.to_rfc3339_opts(SecondsFormat::Secs, false)
        } else {
            time::iso(t)
        }
    }
}

fn state_name(state: i16) -> &'static str {
    match state {
        STATE_ACTIVE => "ACTIVE",
        STATE_PAUSED => "PAUSED",
        _ => "UNKNOWN",
    }
}
