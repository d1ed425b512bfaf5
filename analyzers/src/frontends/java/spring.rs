//! Spring, JPA, Spring Data and MyBatis-annotation rules shared by the Java and
//! Kotlin frontends. Each frontend reads annotations into [`Ann`]; the rules
//! here turn them into facts.

use crate::facts::{Entity, FileFacts, Repository, RouteDef, SqlDialect, SqlSite};

use super::super::{join_route, looks_like_sql, snake_case};

/// An annotation as written: `@RequestMapping(value = "/x", method = RequestMethod.POST)`.
#[derive(Debug)]
pub(in crate::frontends) struct Ann {
    /// The simple name (`Transactional`, not `org.springframework….Transactional`).
    pub(in crate::frontends) name: String,
    pub(in crate::frontends) args: Vec<AnnArg>,
    pub(in crate::frontends) line: usize,
}

/// One annotation argument; arrays are flattened into `items`/`strings`.
#[derive(Debug)]
pub(in crate::frontends) struct AnnArg {
    /// `None` for the positional (`value`) argument.
    pub(in crate::frontends) key: Option<String>,
    /// The string values the argument evaluates to.
    pub(in crate::frontends) strings: Vec<String>,
    /// Each element as written (`RequestMethod.POST`, `true`).
    pub(in crate::frontends) items: Vec<String>,
    pub(in crate::frontends) dynamic: bool,
}

impl Ann {
    /// The argument named one of `keys`; the positional argument counts as `value`.
    fn arg(&self, keys: &[&str]) -> Option<&AnnArg> {
        self.args.iter().find(|a| match &a.key {
            None => keys.contains(&"value"),
            Some(k) => keys.contains(&k.as_str()),
        })
    }

    fn flag(&self, key: &str) -> bool {
        self.arg(&[key])
            .is_some_and(|a| a.items.iter().any(|i| i == "true"))
    }
}

/// What the rules need to know about a class or interface.
#[derive(Debug)]
pub(in crate::frontends) struct ClassInfo {
    /// Qualified name.
    pub(in crate::frontends) name: String,
    pub(in crate::frontends) simple: String,
    pub(in crate::frontends) line: usize,
    pub(in crate::frontends) annotations: Vec<Ann>,
    /// Supertypes as written, generics included.
    pub(in crate::frontends) supertypes: Vec<String>,
    /// Element types of fields annotated with a JPA relation.
    pub(in crate::frontends) relation_fields: Vec<String>,
    /// A Spring Data repository (set by [`class_facts`]).
    pub(in crate::frontends) repository: bool,
}

/// JPA relation annotations.
pub(in crate::frontends) const RELATIONS: [&str; 4] =
    ["ManyToOne", "OneToMany", "OneToOne", "ManyToMany"];

/// The entity type of a relation field: the element of a collection, else the type.
/// `List<OrderLine>` → `OrderLine`, `Map<Long, Item>` → `Item`, `User?` → `User`.
pub(in crate::frontends) fn element_type(written: &str) -> String {
    let written = written.trim().trim_end_matches('?');
    let ty = match (written.find('<'), written.rfind('>')) {
        (Some(open), Some(close)) if close > open => {
            let inner = &written[open + 1..close];
            inner.rsplit(',').next().unwrap_or(inner)
        }
        _ => written,
    };
    ty.trim()
        .trim_start_matches("out ")
        .trim()
        .trim_end_matches('?')
        .trim_end_matches("[]")
        .to_owned()
}

/// Spring Data repository supertypes whose first type argument is the entity.
const REPOSITORY_BASES: [&str; 10] = [
    "Repository",
    "CrudRepository",
    "ListCrudRepository",
    "PagingAndSortingRepository",
    "ListPagingAndSortingRepository",
    "JpaRepository",
    "ReactiveCrudRepository",
    "R2dbcRepository",
    "CoroutineCrudRepository",
    "MongoRepository",
];

/// Spring Data query methods declared without a query (`findByEmail`) are not
/// functions: a call to one is a table access the graph builder derives from the
/// repository. Methods with a query, a body or a MyBatis statement are functions.
pub(in crate::frontends) fn is_derived_query(annotations: &[Ann], has_body: bool) -> bool {
    !has_body
        && !annotations.iter().any(|a| {
            matches!(
                a.name.as_str(),
                "Query" | "NativeQuery" | "Select" | "Insert" | "Update" | "Delete" | "Procedure"
            )
        })
}

/// Entities and repositories declared by a class; whether it is a repository.
pub(in crate::frontends) fn class_facts(class: &ClassInfo, facts: &mut FileFacts) -> bool {
    let find = |name: &str| class.annotations.iter().find(|a| a.name == name);
    if let Some(entity) = find("Entity") {
        // The implicit table follows Spring Boot's naming strategy (snake case of the
        // entity name); `@Entity(name = …)` renames the entity and so the table.
        let entity_name = entity
            .arg(&["name"])
            .and_then(|a| a.strings.first())
            .cloned();
        let table = find("Table").and_then(|t| {
            let name = t
                .arg(&["name", "value"])
                .and_then(|a| a.strings.first())
                .filter(|n| !n.is_empty())?;
            let schema = t
                .arg(&["schema"])
                .and_then(|a| a.strings.first())
                .filter(|s| !s.is_empty());
            Some(match schema {
                Some(schema) => format!("{schema}.{name}"),
                None => name.clone(),
            })
        });
        let table_explicit = table.is_some();
        let table =
            table.unwrap_or_else(|| snake_case(entity_name.as_deref().unwrap_or(&class.simple)));
        facts.entities.push(Entity {
            name: class.name.clone(),
            table,
            table_explicit,
            relations: class.relation_fields.clone(),
            line: class.line,
        });
    }
    for supertype in &class.supertypes {
        let base = supertype.split('<').next().unwrap_or(supertype).trim();
        let base = base.rsplit('.').next().unwrap_or(base);
        if !REPOSITORY_BASES.contains(&base) {
            continue;
        }
        let Some(args) = supertype
            .find('<')
            .and_then(|open| supertype.get(open + 1..supertype.rfind('>')?))
        else {
            continue;
        };
        let entity = args
            .split(',')
            .next()
            .unwrap_or_default()
            .trim()
            .trim_end_matches('?');
        if !entity.is_empty() {
            facts.repositories.push(Repository {
                name: class.name.clone(),
                entity: entity.to_owned(),
                line: class.line,
            });
            return true;
        }
    }
    false
}

/// `@Transactional` on the method, else on the class; `propagation = NOT_SUPPORTED`
/// or `NEVER` runs outside a transaction.
pub(in crate::frontends) fn method_transactional(method: &[Ann], class: &[Ann]) -> bool {
    let find = |anns: &[Ann]| {
        anns.iter()
            .find(|a| a.name == "Transactional")
            .map(transactional)
    };
    find(method).or_else(|| find(class)).unwrap_or(false)
}

fn transactional(ann: &Ann) -> bool {
    !ann.arg(&["propagation", "value"]).is_some_and(|a| {
        a.items
            .iter()
            .any(|i| i.ends_with("NOT_SUPPORTED") || i.ends_with("NEVER"))
    })
}

/// Routes and annotation SQL of one method.
pub(in crate::frontends) fn method_facts(
    function: &str,
    method: &[Ann],
    class: &ClassInfo,
    facts: &mut FileFacts,
) {
    let prefixes: Vec<String> = class
        .annotations
        .iter()
        .find(|a| a.name == "RequestMapping")
        .and_then(|a| a.arg(&["value", "path"]))
        .map(|a| a.strings.clone())
        .filter(|p| !p.is_empty())
        .unwrap_or_else(|| vec![String::new()]);
    for ann in method {
        if let Some((methods, paths)) = mapping(ann) {
            for prefix in &prefixes {
                for path in &paths {
                    for m in &methods {
                        facts.routes.push(RouteDef {
                            method: m.clone(),
                            path: join_route(prefix, path),
                            handler: function.to_owned(),
                            line: ann.line,
                        });
                    }
                }
            }
        }
        let site = match ann.name.as_str() {
            "Query" => ann.arg(&["value"]).map(|a| {
                let dialect = if ann.flag("nativeQuery") {
                    SqlDialect::Sql
                } else {
                    SqlDialect::Jpql
                };
                (a.strings.join(" "), a.dynamic, dialect)
            }),
            "NativeQuery" => ann
                .arg(&["value"])
                .map(|a| (a.strings.join(" "), a.dynamic, SqlDialect::Sql)),
            // MyBatis annotation mappers: `#{x}` parameters, `${x}` text substitution.
            "Select" | "Insert" | "Update" | "Delete" => ann.arg(&["value"]).map(|a| {
                let (text, dynamic) = mybatis_params(&a.strings.join(" "));
                (text, dynamic || a.dynamic, SqlDialect::Sql)
            }),
            _ => None,
        };
        if let Some((text, dynamic, dialect)) = site
            && !text.trim().is_empty()
        {
            facts.sql.push(SqlSite {
                function: Some(function.to_owned()),
                text: text.trim().to_owned(),
                line: ann.line,
                dynamic,
                dialect,
            });
        }
    }
}

/// `@GetMapping("/x")` → (`["GET"]`, `["/x"]`); `@RequestMapping` without a method is `ANY`.
fn mapping(ann: &Ann) -> Option<(Vec<String>, Vec<String>)> {
    let method = match ann.name.as_str() {
        "GetMapping" => "GET",
        "PostMapping" => "POST",
        "PutMapping" => "PUT",
        "DeleteMapping" => "DELETE",
        "PatchMapping" => "PATCH",
        "RequestMapping" => "",
        _ => return None,
    };
    let methods = if method.is_empty() {
        let listed: Vec<String> = ann
            .arg(&["method"])
            .map(|a| {
                a.items
                    .iter()
                    .map(|i| i.rsplit('.').next().unwrap_or(i).to_ascii_uppercase())
                    .collect()
            })
            .unwrap_or_default();
        if listed.is_empty() {
            vec!["ANY".to_owned()]
        } else {
            listed
        }
    } else {
        vec![method.to_owned()]
    };
    let paths = ann
        .arg(&["value", "path"])
        .map(|a| a.strings.clone())
        .filter(|p| !p.is_empty())
        .unwrap_or_else(|| vec![String::new()]);
    Some((methods, paths))
}

/// `transactionTemplate.execute(…)`, `transactionalOperator.transactional(…)`: the
/// enclosing method runs a transaction.
pub(in crate::frontends) fn starts_transaction(receiver: &str, method: &str) -> bool {
    let receiver = receiver.to_ascii_lowercase();
    (receiver.contains("transactiontemplate")
        && matches!(method, "execute" | "executeWithoutResult"))
        || (receiver.contains("transactionaloperator")
            && matches!(method, "transactional" | "execute"))
        || (matches!(method, "getTransaction" | "begin")
            && (receiver.contains("transactionmanager") || receiver.contains("transaction")))
}

/// Methods whose first argument is SQL (JdbcTemplate, NamedParameterJdbcTemplate,
/// JdbcClient, JDBC, EntityManager), with the dialect of that SQL.
pub(in crate::frontends) fn sql_method(method: &str) -> Option<SqlDialect> {
    match method {
        "query"
        | "queryForObject"
        | "queryForList"
        | "queryForMap"
        | "queryForRowSet"
        | "queryForStream"
        | "queryForLong"
        | "queryForInt"
        | "update"
        | "batchUpdate"
        | "execute"
        | "sql"
        | "prepareStatement"
        | "prepareCall"
        | "executeQuery"
        | "executeUpdate"
        | "addBatch"
        | "createNativeQuery"
        | "createSQLQuery"
        | "createNativeMutationQuery" => Some(SqlDialect::Sql),
        "createQuery" | "createSelectionQuery" | "createMutationQuery" => Some(SqlDialect::Jpql),
        _ => None,
    }
}

/// Whether `text` is a query of `dialect` (JPQL may start with `from`).
pub(in crate::frontends) fn looks_like_query(text: &str, dialect: SqlDialect) -> bool {
    looks_like_sql(text)
        || (dialect == SqlDialect::Jpql
            && text.trim_start().to_ascii_lowercase().starts_with("from "))
}

/// MyBatis parameters: `#{id}` → `?`; `${column}` is text substitution, so dynamic.
pub(in crate::frontends) fn mybatis_params(text: &str) -> (String, bool) {
    let mut out = String::with_capacity(text.len());
    let mut dynamic = false;
    let mut rest = text;
    while let Some(pos) = rest.find(['#', '$']) {
        let (head, tail) = rest.split_at(pos);
        out.push_str(head);
        if tail[1..].starts_with('{')
            && let Some(close) = tail.find('}')
        {
            if tail.starts_with('$') {
                dynamic = true;
                out.push_str(crate::sql::DYNAMIC);
            } else {
                out.push('?');
            }
            rest = &tail[close + 1..];
        } else {
            out.push_str(&tail[..1]);
            rest = &tail[1..];
        }
    }
    out.push_str(rest);
    (out, dynamic)
}
