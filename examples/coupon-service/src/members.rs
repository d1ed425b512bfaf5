//! Members are the user domain's: this service only asks whether one exists.

use std::time::Duration;

use axum::http::StatusCode;

use crate::kit::ApiError;

/// Answers "does member N exist?" from the user service, or trusts every id
/// when none is configured.
#[derive(Debug)]
pub(super) struct Members {
    directory: Option<(reqwest::Client, url::Url)>,
}

impl Members {
    pub(super) fn new(users_url: Option<url::Url>) -> anyhow::Result<Self> {
        let directory = match users_url {
            Some(url) => {
                let client = reqwest::Client::builder()
                    .timeout(Duration::from_secs(2))
                    .build()?;
                Some((client, url))
            }
            None => None,
        };
        Ok(Self { directory })
    }

    /// Fails with the monolith's own 404 when the member does not exist, and
    /// 503 when the user service cannot say.
    pub(super) async fn require(&self, member_id: i64) -> Result<(), ApiError> {
        let Some((client, base)) = &self.directory else {
            return Ok(());
        };
        let url = base
            .join(&format!("api/users/{member_id}"))
            .map_err(|err| unavailable(&err.to_string()))?;
        let response = client
            .get(url)
            .send()
            .await
            .map_err(|err| unavailable(&err.to_string()))?;
        match response.status() {
            StatusCode::OK => Ok(()),
            StatusCode::NOT_FOUND => Err(ApiError::not_found(
                "USER_NOT_FOUND",
                format!("user {member_id} does not exist"),
            )),
            other => Err(unavailable(&format!("it answered {other}"))),
        }
    }
}

fn unavailable(why: &str) -> ApiError {
    tracing::warn!(why, "user service unavailable");
    ApiError::new(
        StatusCode::SERVICE_UNAVAILABLE,
        "USER_SERVICE_UNAVAILABLE",
        "cannot check the user now; try again",
    )
}
