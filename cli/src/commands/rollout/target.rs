//! Where stages are changed: the state store, or a proxy's admin API.

#![allow(
    clippy::print_stdout,
    reason = "the changes made are the commands' output"
)]

use std::sync::Arc;

use anyhow::{Context, bail};
use msa_proxy::Stage;
use msa_proxy::state::client::AdminClient;
use msa_proxy::state::{self, AuditEntry, Change, StateStore};

use super::show;

/// Where stages are changed.
pub(super) enum Target {
    Store(Arc<dyn StateStore>),
    Admin(Box<AdminClient>),
}

impl Target {
    pub(super) fn open(
        state: Option<&str>,
        admin: Option<&str>,
        token_env: &str,
    ) -> anyhow::Result<Self> {
        match (state, admin) {
            (_, Some(url)) => Ok(Self::Admin(Box::new(AdminClient::new(
                url,
                std::env::var(token_env).ok().filter(|t| !t.is_empty()),
            )?))),
            (Some(location), None) => Ok(Self::Store(state::open(location, None)?)),
            (None, None) => bail!("say where the stages live: --state FILE|DSN or --admin URL"),
        }
    }

    /// Moves every route to its stage, audited as `action` by `actor` for
    /// `reason`; returns each route with its stage before (unknown when the
    /// store has none yet) and after. Through a store, all routes change in
    /// one transaction.
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
                let mut applied = Vec::new();
                for (route, stage) in changes {
                    let before = admin
                        .set_stage(
                            route,
                            *stage,
                            actor,
                            &format!("{action} {domain}: {reason}"),
                        )
                        .await
                        .with_context(|| {
                            format!(
                                "route `{route}` was not changed{}",
                                if applied.is_empty() {
                                    String::new()
                                } else {
                                    format!(
                                        "; these were: {}",
                                        applied
                                            .iter()
                                            .map(|(r, _, _): &(String, _, _)| r.as_str())
                                            .collect::<Vec<_>>()
                                            .join(", ")
                                    )
                                }
                            )
                        })?;
                    applied.push((route.clone(), Some(before), *stage));
                }
                Ok(applied)
            }
        }
    }

    pub(super) fn describe(&self) -> String {
        match self {
            Self::Store(store) => store.describe(),
            Self::Admin(admin) => format!("the admin API at {}", admin.url()),
        }
    }
}

/// One line per route changed: its stage before and after.
pub(super) fn print_applied(applied: &[(String, Option<Stage>, Stage)]) {
    for (route, before, after) in applied {
        println!("  {route}: {} -> {}", show(*before), show(Some(*after)));
    }
}
