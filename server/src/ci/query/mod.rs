//! The asset query language: a small filter language over CIs, compiled to parameterised SQL
//! for both databases (values are always bound, never spliced into the SQL text).
//!
//! ```text
//! class = computer and memory < 8GB and os ~ debian
//! class = computer and software(name = openssl and version < 3.0.7)
//! class = computer and volume(used_percent > 90)
//! class = volume and free < 10%
//! class = service and business_service(name = "payroll")
//! not (status = retired) or (name ~ "web*" and cores >= 4)
//! ```
//!
//! A comparison is `FIELD OP VALUE` with `=`, `!=`, `<`, `<=`, `>`, `>=` and `~` (contains;
//! `*` matches anything). `CLASS(…)` is true when the CI is related (in either direction) to a
//! CI of that class matching the inner filter; `software(…)` looks at installed packages
//! (`name`, `version`, `architecture`, `source`), with versions ordered numerically.

mod ast;
mod parse;
mod sql;

pub use ast::{Comparison, Expr, Op, Value};
pub use parse::{parse, QueryError};
pub use sql::{compile, order_by, Bind, CompiledQuery, Dialect, Sort};
