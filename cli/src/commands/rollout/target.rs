//! Where stages are changed: the state store, or a proxy's admin API.

use std::sync::Arc;

use anyhow::{Context, bail};
use msa_proxy::Stage;
use msa_proxy::state::client::AdminClient;
use msa_proxy::state::{self, AuditEntry, Change, StateStore};

use super::output::AppliedIn;

/// Where stages are changed.
pub(super) enum Target {
    Store(Arc<dyn StateStore>),
    Admin(Box<AdminClient>),
}

impl Target {
    /// The store when `--state` is given, else the first admin API: replicas
    /// that share a store follow a change made through any one of them.
    pub(super) fn open(
        state: Option<&str>,
        admins: &[String],
        token_env: &str,
    ) -> anyhow::Result<Self> {
        match (state, admins.first()) {
            (Some(location), _) => Ok(Self::Store(state::open(location, None)?)),
            (None, Some(url)) => Ok(Self::Admin(Box::new(AdminClient::new(
                url,
                std::env::var(token_env).ok().filter(|t| !t.is_empty()),
            )?))),
            (None, None) => bail!("say where the stages live: --state FILE|DSN or --admin URL"),
        }
    }

    /// Moves every route to its stage, audited as `action` by `actor` for
    /// `reason`; returns each route with its stage before (unknown when the
    /// store has none yet) and after. All routes change in one transaction,
    /// through the store or through the admin API's `PUT /routes`.
    pub(super) async fn set(
        &self,
        domain: &str,
        changes: &[(String, Stage)],
        actor: &str,
        action: &str,
        reason: &str,
    ) -> anyhow::Result<Vec<(String, Option<Stage>, Stage)>> {
        match self {
            Self::Store(store) => {
                let saved = store.load().await?;
                let mut applied = Vec::new();
                let batch: Vec<Change> = changes
                    .iter()
                    .map(|(route, stage)| {
                        let before = saved.stages.get(route).copied();
                        applied.push((route.clone(), before, *stage));
                        let mut entry = AuditEntry::now(actor, action);
                        entry.domain = Some(domain.to_owned());
                        entry.route = Some(route.clone());
                        entry.before = before;
                        entry.after = Some(*stage);
                        entry.reason = Some(reason.to_owned());
                        Change {
                            route: route.clone(),
                            stage: *stage,
                            entry,
                        }
                    })
                    .collect();
                store.apply(batch).await?;
                Ok(applied)
            }
            Self::Admin(admin) => {
                // One request for every route: the proxy makes all or none.
                let before = admin
                    .set_stages(changes, actor, &format!("{action} {domain}: {reason}"))
                    .await
                    .context("no route was changed")?;
                Ok(changes
                    .iter()
                    .map(|(route, stage)| (route.clone(), before.get(route).copied(), *stage))
                    .collect())
            }
        }
    }

    pub(super) fn describe(&self) -> String {
        match self {
            Self::Store(store) => store.describe(),
            Self::Admin(admin) => format!("the admin API at {}", admin.url()),
        }
    }

    /// Where the change is made, for JSON output.
    pub(super) fn applied_in(&self) -> AppliedIn {
        match self {
            Self::Store(store) => AppliedIn {
                kind: "state_store",
                location: store.describe(),
            },
            Self::Admin(admin) => AppliedIn {
                kind: "admin_api",
                location: admin.url().to_owned(),
            },
        }
    }
}
