//! Prisma schema files (`schema.prisma`): models, their tables (`@@map`) and relations.
//! The format is small enough to read line by line.

use std::collections::HashSet;
use std::path::Path;

use super::super::{Frontend, directory_of, extension, start_facts};
use crate::facts::{Entity, FileFacts, Language};

#[derive(Debug)]
pub(crate) struct Prisma;

impl Frontend for Prisma {
    fn accepts(&self, path: &Path) -> bool {
        extension(path) == "prisma"
    }

    fn extract(&self, relative: &str, source: &str) -> FileFacts {
        let mut facts = start_facts(relative, source, Language::Prisma, directory_of(relative));
        // Model names first: a field whose type is a model is a relation.
        let models: HashSet<&str> = source
            .lines()
            .filter_map(|l| l.trim().strip_prefix("model "))
            .filter_map(|rest| rest.split_whitespace().next())
            .collect();
        let mut current: Option<Entity> = None;
        for (index, raw) in source.lines().enumerate() {
            let l = raw.split("//").next().unwrap_or_default().trim();
            if let Some(rest) = l.strip_prefix("model ") {
                let name = rest
                    .split_whitespace()
                    .next()
                    .unwrap_or_default()
                    .trim_end_matches('{')
                    .to_owned();
                // Prisma's default table is the model name as written.
                current = Some(Entity {
                    table: name.clone(),
                    name,
                    table_explicit: false,
                    relations: Vec::new(),
                    line: index + 1,
                });
                continue;
            }
            let Some(entity) = current.as_mut() else {
                continue;
            };
            if l.starts_with('}') {
                facts.entities.extend(current.take());
                continue;
            }
            if let Some(rest) = l.strip_prefix("@@map(") {
                if let Some(table) = rest.split('"').nth(1) {
                    entity.table = table.to_owned();
                    entity.table_explicit = true;
                }
                continue;
            }
            let mut words = l.split_whitespace();
            let (Some(_field), Some(ty)) = (words.next(), words.next()) else {
                continue;
            };
            let ty = ty.trim_end_matches('?').trim_end_matches("[]");
            if models.contains(ty) && !entity.relations.iter().any(|r| r == ty) {
                entity.relations.push(ty.to_owned());
            }
        }
        facts
    }
}
