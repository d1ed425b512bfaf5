//! Which routes a command moves: `--routes`, else the domain's playbook's.

use std::path::Path;

use anyhow::{Context, bail};
use msa_proxy::Stage;

/// A domain's routes, and its playbook when there is one.
pub(super) struct Domain {
    pub(super) name: String,
    pub(super) routes: Vec<String>,
    pub(super) playbook: Option<msa_playbook::Playbook>,
}

/// The domain's routes: `--routes`, else its playbook's. A playbook that is
/// there must be valid, and name this domain.
pub(super) fn domain(name: &str, playbooks: &Path, routes: &[String]) -> anyhow::Result<Domain> {
    let file = playbooks.join(format!("{name}.yaml"));
    let playbook = match std::fs::read_to_string(&file) {
        Ok(text) => match crate::commands::playbook::parse(&file, &text) {
            Ok(playbook) => Some(playbook),
            // The same words as `playbook check`, without its hint: here the
            // routes could also be given with --routes.
            Err(invalid) if routes.is_empty() => bail!("{invalid}"),
            Err(_) => None,
        },
        Err(err) if err.kind() == std::io::ErrorKind::NotFound && !routes.is_empty() => None,
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => bail!(
            "no playbook for `{name}` at {}: give --playbooks DIR, or the routes with --routes a,b",
            file.display()
        ),
        Err(err) => return Err(err).with_context(|| format!("cannot read {}", file.display())),
    };
    if let Some(playbook) = &playbook
        && playbook.domain != name
    {
        bail!(
            "{} is the playbook of `{}`, not `{name}`",
            file.display(),
            playbook.domain
        );
    }
    let routes: Vec<String> = if routes.is_empty() {
        playbook
            .as_ref()
            .map(|p| p.routes.iter().map(|r| r.name.clone()).collect())
            .unwrap_or_default()
    } else {
        routes.to_vec()
    };
    if routes.is_empty() {
        bail!("the domain `{name}` has no routes: list them in its playbook, or give --routes a,b");
    }
    Ok(Domain {
        name: name.to_owned(),
        routes,
        playbook,
    })
}

impl Domain {
    /// Where a rollback sends the routes: `--to`, else the playbook's, else legacy.
    pub(super) fn back_to(&self, to: Option<&str>) -> Stage {
        let mode = to.or_else(|| self.playbook.as_ref().map(|p| p.rollback.to.as_str()));
        match mode {
            Some("shadow") => Stage::Shadow,
            _ => Stage::Legacy,
        }
    }
}
