//! What a language frontend finds in one source file: the contract between the
//! frontends (one per language) and the graph builder. Frontends only report
//! what is written in the file; resolving names across files, parsing SQL and
//! assigning domains happen later, in one place.

use serde::Serialize;

/// Everything one file contributes. Lines are 1-based.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct FileFacts {
    /// Path relative to the source root, with `/` separators.
    pub path: String,
    pub language: Language,
    /// The module the file belongs to: Java/Kotlin package, Python dotted
    /// module, Go package path, Rust module path, or the file's directory.
    pub module: String,
    /// Non-blank lines, for size metrics and the lines/s benchmark.
    pub lines: usize,
    pub imports: Vec<Import>,
    /// Functions and methods defined here; `calls`, `sql`, `table_uses` and
    /// `routes` refer to them by their qualified name.
    pub functions: Vec<Function>,
    pub calls: Vec<Call>,
    pub routes: Vec<RouteDef>,
    /// Route prefixes applied here to routes defined elsewhere (Django
    /// `include("orders.urls")`, Flask `register_blueprint`, FastAPI
    /// `include_router`, Express `app.use("/api", importedRouter)`, axum
    /// `.nest("/api", orders::router())`); the graph builder joins them.
    pub mounts: Vec<Mount>,
    /// ORM entities / models and the table each maps to.
    pub entities: Vec<Entity>,
    /// SQL text found in code or mapper files, to be parsed with a real SQL parser.
    pub sql: Vec<SqlSite>,
    /// Table access known without SQL text (ORM repositories, query builders).
    pub table_uses: Vec<TableUse>,
    /// Repository-style types bound to an entity (Spring Data `JpaRepository<Order, Long>`).
    pub repositories: Vec<Repository>,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Language {
    #[default]
    Unknown,
    Java,
    Kotlin,
    Python,
    TypeScript,
    JavaScript,
    Rust,
    Go,
    /// MyBatis mapper XML and other SQL-bearing XML.
    Xml,
    /// Prisma schema files.
    Prisma,
}

/// `import com.shop.order.OrderService;`, `from shop.orders import models`, `use crate::coupon`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Import {
    /// The imported module or type, as written (qualified where the language qualifies).
    pub target: String,
    pub line: usize,
}

/// A function or method. `name` is qualified: `module.Type.method` or `module::function`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Function {
    pub name: String,
    pub line_start: usize,
    pub line_end: usize,
    /// Inside a transaction boundary: `@Transactional`, `transaction.atomic`,
    /// `pool.begin()`, `db.Begin()`, `$transaction`, …
    pub transactional: bool,
}

/// A call from one function to another, by the callee's name as written
/// (`orderService.place`, `place`, `coupons::issue`); resolution is the builder's job.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Call {
    pub from: String,
    pub to: String,
    pub line: usize,
}

/// An HTTP route defined in code, with class-level prefixes already joined.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RouteDef {
    /// Upper case; `ANY` when the framework does not restrict the method.
    pub method: String,
    /// The template as the framework writes it, normalised to `{name}` parameters
    /// (`/api/coupons/{id}/issue`, not `:id` or `<int:id>`).
    pub path: String,
    /// Qualified name of the handler function.
    pub handler: String,
    pub line: usize,
}

/// A prefix put in front of the routes of another module or router function.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Mount {
    /// The full prefix at this place, with the prefixes of this file already
    /// joined (`/api/orders`), normalised like [`RouteDef::path`].
    pub prefix: String,
    /// What is mounted, qualified as far as the file tells: a module
    /// (`orders.urls`, `src/routes/orders`), a router object in a module
    /// (`app.routers.orders.router`) or a router function
    /// (`crate::orders::router`). The builder resolves it to a function (its
    /// routes) or else to the longest module naming it (all its routes).
    pub target: String,
    pub line: usize,
}

/// An ORM entity or model and its table.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Entity {
    /// Qualified type name.
    pub name: String,
    /// The table, from `@Table(name=…)`, `Meta.db_table`, `__tablename__`,
    /// `@Entity("…")`, `@@map`, or the framework's naming rule when implicit.
    pub table: String,
    /// Whether `table` was written explicitly or derived by a naming rule.
    pub table_explicit: bool,
    /// Entities this one references (`@ManyToOne Order order` → the Order type), as written.
    pub relations: Vec<String>,
    pub line: usize,
}

/// SQL text at a place in the code.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SqlSite {
    /// The enclosing function, or `None` at file level (e.g. a mapper XML statement id).
    pub function: Option<String>,
    pub text: String,
    pub line: usize,
    /// The text is built at run time (concatenation with variables, format
    /// strings): what is known is kept, and the site is reported as unresolved
    /// when the parser cannot make sense of it.
    pub dynamic: bool,
    /// `JPQL`/`HQL` queries name entities, not tables.
    pub dialect: SqlDialect,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum SqlDialect {
    #[default]
    Sql,
    /// JPQL / HQL: `FROM Order o` names the entity `Order`.
    Jpql,
}

/// Table access known from an ORM call (`Order.objects.filter`, `orderRepository.save`).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TableUse {
    pub function: String,
    /// A table name, or an entity name when `via_entity` is set.
    pub target: String,
    pub via_entity: bool,
    pub access: Access,
    pub line: usize,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Access {
    Read,
    Write,
}

/// A repository type bound to an entity: calls on it read or write that entity's table.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Repository {
    /// Qualified name of the repository type.
    pub name: String,
    /// The entity type, as written.
    pub entity: String,
    pub line: usize,
}
