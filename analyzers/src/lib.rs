//! Source, SQL, schema, git co-change and access-log analyzers that build the dependency graph and propose domains.
//!
//! Nothing is implemented here yet: this crate is built under issue #5.
//! It exists now so that the workspace has its final shape and every later
//! change lands in the crate that owns the concern.
