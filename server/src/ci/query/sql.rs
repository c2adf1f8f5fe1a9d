//! Compile a parsed query to a SQL condition over `configuration_items c`, with every value
//! bound as a parameter. JSON access differs between SQLite and PostgreSQL; everything else is
//! shared.

use super::ast::{Comparison, Expr, Op, Value};
use super::parse::QueryError;
use crate::ci::class;
use crate::ci::version::version_key;

/// Which SQL to write: the backends differ in JSON access and a few functions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    Sqlite,
    Postgres,
}

/// A value to bind, in order, for the `$N` placeholders of [`CompiledQuery::sql`].
#[derive(Debug, Clone, PartialEq)]
pub enum Bind {
    Int(i64),
    Float(f64),
    Text(String),
}

#[derive(Debug, Clone, PartialEq)]
pub struct CompiledQuery {
    /// A boolean SQL expression over the alias `c`.
    pub sql: String,
    pub binds: Vec<Bind>,
}

/// `ORDER BY` of a listing: a field and a direction.
#[derive(Debug, Clone, PartialEq)]
pub struct Sort {
    pub field: String,
    pub descending: bool,
}

impl Sort {
    /// `name` or `-last_seen`; `None` for the default (by id).
    pub fn parse(text: &str) -> Result<Option<Sort>, QueryError> {
        let text = text.trim();
        if text.is_empty() {
            return Ok(None);
        }
        let (descending, field) = match text.strip_prefix('-') {
            Some(f) => (true, f),
            None => (false, text),
        };
        if !is_identifier(field) {
            return Err(QueryError {
                position: 0,
                message: format!("cannot sort by {field:?}"),
            });
        }
        Ok(Some(Sort {
            field: field.to_ascii_lowercase(),
            descending,
        }))
    }
}

fn is_identifier(s: &str) -> bool {
    !s.is_empty() && s.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// Friendlier names for common attributes.
fn alias(field: &str) -> &str {
    match field {
        "memory" => "memory_total_bytes",
        "cores" => "cpu_cores",
        "cpu" => "cpu_model",
        "os" => "os_name",
        "free" => "available_bytes",
        "used" => "used_percent",
        "size" => "total_bytes",
        "kernel" => "kernel_version",
        other => other,
    }
}

/// Numeric fields kept in a generated, indexed column of `configuration_items` (migrations
/// 0010 and 0013) with exactly the meaning of [`Compiler::json_number`]: the attribute, else the
/// measurement, when it is a number. Relation filters such as `volume(used_percent > 90)` then
/// read an index instead of every volume's JSON.
const PROMOTED_NUMBERS: &[&str] = &["used_percent", "memory_total_bytes"];

/// Text fields kept in a generated column (migration 0013) with exactly the meaning of
/// [`Compiler::json_text`].
const PROMOTED_TEXTS: &[&str] = &["os_name"];

enum Column {
    Int(&'static str),
    Text(&'static str),
    Time(&'static str),
}

fn column(field: &str) -> Option<Column> {
    Some(match field {
        "id" => Column::Int("id"),
        "computer_id" => Column::Int("computer_id"),
        "name" => Column::Text("name"),
        "class" => Column::Text("class"),
        "status" => Column::Text("status"),
        "last_seen" => Column::Time("last_seen_at"),
        "first_seen" => Column::Time("first_seen_at"),
        "updated" => Column::Time("updated_at"),
        _ => return None,
    })
}

struct Compiler {
    backend: Dialect,
    first_param: usize,
    binds: Vec<Bind>,
    aliases: usize,
}

/// Compile `expr` for `backend`; placeholders start at `$first_param`.
pub fn compile(
    expr: &Expr,
    backend: Dialect,
    first_param: usize,
) -> Result<CompiledQuery, QueryError> {
    let mut compiler = Compiler {
        backend,
        first_param,
        binds: Vec::new(),
        aliases: 0,
    };
    let sql = compiler.expr(expr, "c")?;
    Ok(CompiledQuery {
        sql,
        binds: compiler.binds,
    })
}

/// An `ORDER BY` clause (without the keywords) for a sort, binding what it needs.
pub fn order_by(sort: Option<&Sort>, backend: Dialect, first_param: usize) -> (String, Vec<Bind>) {
    let Some(sort) = sort else {
        return ("c.id".into(), Vec::new());
    };
    let mut compiler = Compiler {
        backend,
        first_param,
        binds: Vec::new(),
        aliases: 0,
    };
    let direction = if sort.descending { "DESC" } else { "ASC" };
    let field = alias(&sort.field);
    let sql = match column(field) {
        Some(Column::Int(c) | Column::Text(c) | Column::Time(c)) => {
            format!("c.{c} {direction}, c.id")
        }
        None => {
            let number = compiler.json_number("c", field);
            let text = compiler.json_text("c", field);
            format!("{number} {direction}, {text} {direction}, c.id")
        }
    };
    (sql, compiler.binds)
}

fn like_pattern(text: &str) -> String {
    let mut pattern = String::from("%");
    for c in text.to_lowercase().chars() {
        match c {
            '%' | '_' | '\\' => {
                pattern.push('\\');
                pattern.push(c);
            }
            '*' => pattern.push('%'),
            other => pattern.push(other),
        }
    }
    pattern.push('%');
    pattern
}

fn number_text(n: f64) -> String {
    if n.fract() == 0.0 && n.abs() < 1e15 {
        format!("{}", n as i64)
    } else {
        n.to_string()
    }
}

fn parse_time(text: &str, position: usize) -> Result<i64, QueryError> {
    if let Ok(t) = chrono::DateTime::parse_from_rfc3339(text) {
        return Ok(t.timestamp_millis());
    }
    if let Ok(d) = chrono::NaiveDate::parse_from_str(text, "%Y-%m-%d") {
        if let Some(t) = d.and_hms_opt(0, 0, 0) {
            return Ok(t.and_utc().timestamp_millis());
        }
    }
    Err(QueryError {
        position,
        message: format!("expected a date (2026-11-01 or RFC 3339), found {text:?}"),
    })
}

impl Compiler {
    fn bind(&mut self, value: Bind) -> String {
        self.binds.push(value);
        format!("${}", self.first_param + self.binds.len() - 1)
    }

    fn next_alias(&mut self, prefix: &str) -> String {
        self.aliases += 1;
        format!("{prefix}{}", self.aliases)
    }

    fn json_param(&mut self, key: &str) -> String {
        match self.backend {
            Dialect::Sqlite => self.bind(Bind::Text(format!("$.\"{key}\""))),
            Dialect::Postgres => self.bind(Bind::Text(key.to_string())),
        }
    }

    /// The value of an attribute (or, failing that, a measurement) as text.
    fn json_text(&mut self, ci: &str, key: &str) -> String {
        if PROMOTED_TEXTS.contains(&key) {
            return format!("{ci}.{key}");
        }
        let p = self.json_param(key);
        match self.backend {
            Dialect::Sqlite => format!(
                "COALESCE(json_extract({ci}.attributes, {p}), json_extract({ci}.metrics, {p}))"
            ),
            Dialect::Postgres => {
                format!("COALESCE({ci}.attributes_jsonb ->> {p}, {ci}.metrics_jsonb ->> {p})")
            }
        }
    }

    /// The value of an attribute (or measurement) as a number; NULL when it is not a number.
    fn json_number(&mut self, ci: &str, key: &str) -> String {
        if PROMOTED_NUMBERS.contains(&key) {
            return format!("{ci}.{key}");
        }
        let p = self.json_param(key);
        let one = |doc: &str| {
            match self.backend {
            Dialect::Sqlite => format!(
                "CASE WHEN json_type({ci}.{doc}, {p}) IN ('integer', 'real') THEN json_extract({ci}.{doc}, {p}) END"
            ),
            Dialect::Postgres => format!(
                "CASE WHEN jsonb_typeof({ci}.{doc}_jsonb -> {p}) = 'number' THEN ({ci}.{doc}_jsonb ->> {p})::double precision END"
            ),
        }
        };
        format!("COALESCE({}, {})", one("attributes"), one("metrics"))
    }

    fn json_bool(&mut self, ci: &str, key: &str, value: bool) -> String {
        let p = self.json_param(key);
        let literal = if value { "true" } else { "false" };
        match self.backend {
            Dialect::Sqlite => format!("json_type({ci}.attributes, {p}) = '{literal}'"),
            Dialect::Postgres => format!("({ci}.attributes_jsonb -> {p}) = '{literal}'::jsonb"),
        }
    }

    fn expr(&mut self, expr: &Expr, ci: &str) -> Result<String, QueryError> {
        Ok(match expr {
            Expr::And(a, b) => format!("({} AND {})", self.expr(a, ci)?, self.expr(b, ci)?),
            Expr::Or(a, b) => format!("({} OR {})", self.expr(a, ci)?, self.expr(b, ci)?),
            Expr::Not(e) => format!("(NOT COALESCE({}, FALSE))", self.expr(e, ci)?),
            Expr::Compare(c) => self.compare(c, ci)?,
            Expr::Related {
                class,
                filter,
                position,
            } => self.related(class, filter.as_deref(), *position, ci)?,
        })
    }

    fn text_compare(
        &mut self,
        expr: &str,
        op: Op,
        text: &str,
        c: &Comparison,
    ) -> Result<String, QueryError> {
        match op {
            Op::Eq => {
                let p = self.bind(Bind::Text(text.to_lowercase()));
                Ok(format!("lower(CAST({expr} AS TEXT)) = {p}"))
            }
            Op::Ne => {
                let p = self.bind(Bind::Text(text.to_lowercase()));
                Ok(format!("COALESCE(lower(CAST({expr} AS TEXT)), '') <> {p}"))
            }
            Op::Contains => {
                let p = self.bind(Bind::Text(like_pattern(text)));
                Ok(format!("lower(CAST({expr} AS TEXT)) LIKE {p} ESCAPE '\\'"))
            }
            _ => Err(QueryError {
                position: c.position,
                message: format!("`{}` compares text {text:?}: ordering needs a number, size, date or software version", c.field),
            }),
        }
    }

    fn compare(&mut self, c: &Comparison, ci: &str) -> Result<String, QueryError> {
        let field = alias(&c.field);
        if let Some(col) = column(field) {
            return match (col, &c.value) {
                (Column::Int(name), Value::Number(n)) if n.fract() == 0.0 => {
                    let p = self.bind(Bind::Int(*n as i64));
                    Ok(format!("{ci}.{name} {} {p}", c.op.sql()))
                }
                (Column::Text("class"), Value::Text(t)) if matches!(c.op, Op::Eq | Op::Ne) => {
                    // Classes are stored as the lower-case constants of `cmdb::class`: compare
                    // the column itself, which `(class, id)` indexes.
                    let p = self.bind(Bind::Text(t.to_lowercase()));
                    Ok(format!("{ci}.class {} {p}", c.op.sql()))
                }
                (Column::Text(name), Value::Text(t)) => {
                    self.text_compare(&format!("{ci}.{name}"), c.op, t, c)
                }
                (Column::Text(name), Value::Number(n)) => {
                    self.text_compare(&format!("{ci}.{name}"), c.op, &number_text(*n), c)
                }
                (Column::Time(name), Value::Text(t)) if c.op != Op::Contains => {
                    let p = self.bind(Bind::Int(parse_time(t, c.position)?));
                    Ok(format!("{ci}.{name} {} {p}", c.op.sql()))
                }
                _ => Err(QueryError {
                    position: c.position,
                    message: format!("`{}` cannot be compared with that value", c.field),
                }),
            };
        }
        match &c.value {
            Value::Bool(b) => match c.op {
                Op::Eq => Ok(self.json_bool(ci, field, *b)),
                Op::Ne => Ok(format!(
                    "(NOT COALESCE({}, FALSE))",
                    self.json_bool(ci, field, *b)
                )),
                _ => Err(QueryError {
                    position: c.position,
                    message: "true/false only compare with = or !=".into(),
                }),
            },
            Value::Text(t) => {
                let expr = self.json_text(ci, field);
                self.text_compare(&expr, c.op, t, c)
            }
            Value::Number(n) => self.number_compare(ci, field, c.op, *n, c),
            Value::Percent(n) => {
                if field == "used_percent" {
                    return self.number_compare(ci, field, c.op, *n, c);
                }
                if !matches!(field, "available_bytes" | "used_bytes") {
                    return Err(QueryError {
                        position: c.position,
                        message: format!(
                            "a percentage only applies to free, used or used_percent, not `{}`",
                            c.field
                        ),
                    });
                }
                let part = self.json_number(ci, field);
                let total = self.json_number(ci, "total_bytes");
                let p = self.bind(Bind::Float(*n));
                self.ordered(&format!("({part} * 100.0 / NULLIF({total}, 0))"), c, &p)
            }
        }
    }

    fn number_compare(
        &mut self,
        ci: &str,
        field: &str,
        op: Op,
        n: f64,
        c: &Comparison,
    ) -> Result<String, QueryError> {
        if op == Op::Contains {
            let expr = self.json_text(ci, field);
            return self.text_compare(&expr, op, &number_text(n), c);
        }
        let expr = self.json_number(ci, field);
        let p = self.bind(Bind::Float(n));
        let exact = self.ordered(&expr, c, &p)?;
        Ok(match self.band(ci, field, op, &p) {
            Some(band) => format!("({band} AND {exact})"),
            None => exact,
        })
    }

    /// On PostgreSQL, `used_percent` is indexed by its whole-number band (migration 0019), not by
    /// its exact value, so that a volume's refresh whose usage stays inside its band leaves every
    /// index alone and can be a HOT update. A comparison then reads the band's index range and
    /// checks the exact value: `x > n` implies `floor(x) >= floor(n)`, and so on.
    fn band(&self, ci: &str, field: &str, op: Op, p: &str) -> Option<String> {
        if self.backend != Dialect::Postgres || field != "used_percent" {
            return None;
        }
        let op = match op {
            Op::Eq => "=",
            Op::Lt | Op::Le => "<=",
            Op::Gt | Op::Ge => ">=",
            Op::Ne | Op::Contains => return None,
        };
        Some(format!(
            "{ci}.used_percent_band {op} floor(CAST({p} AS DOUBLE PRECISION))"
        ))
    }

    fn ordered(&mut self, expr: &str, c: &Comparison, p: &str) -> Result<String, QueryError> {
        Ok(match c.op {
            Op::Ne => format!("({expr} IS NULL OR {expr} <> {p})"),
            op => format!("{expr} {} {p}", op.sql()),
        })
    }

    fn related(
        &mut self,
        target: &str,
        filter: Option<&Expr>,
        position: usize,
        ci: &str,
    ) -> Result<String, QueryError> {
        if target == "software" {
            let p = self.next_alias("p");
            let inner = match filter {
                Some(f) => format!(" AND {}", self.software(f, &p)?),
                None => String::new(),
            };
            return Ok(format!(
                "{ci}.id IN (SELECT si.computer_id FROM software_installations si \
                 JOIN software_packages {p} ON {p}.id = si.package_id WHERE si.retired_at IS NULL{inner})"
            ));
        }
        if !class::ALL.contains(&target) {
            return Err(QueryError {
                position,
                message: format!(
                    "unknown class {target:?}; expected software or one of {}",
                    class::ALL.join(", ")
                ),
            });
        }
        // Related in either direction, as one semi-join over a UNION ALL of both directions: each
        // branch finds the related CIs through `(class, id)` and follows their relations by
        // index. (`id IN (…) OR id IN (…)` made PostgreSQL walk every CI testing both.)
        let branch = |this: &mut Compiler, here: &str, there: &str| -> Result<String, QueryError> {
            let r = this.next_alias("r");
            let k = this.bind(Bind::Text(target.to_string()));
            let inner = match filter {
                Some(f) => format!(" AND {}", this.expr(f, &r)?),
                None => String::new(),
            };
            Ok(format!(
                "SELECT rel.{here} FROM configuration_items {r} JOIN ci_relations rel ON rel.{there} = {r}.id \
                 WHERE {r}.class = {k} AND {r}.status <> 'retired'{inner}"
            ))
        };
        let outgoing = branch(self, "source_id", "target_id")?;
        let incoming = branch(self, "target_id", "source_id")?;
        Ok(format!("{ci}.id IN ({outgoing} UNION ALL {incoming})"))
    }

    fn software(&mut self, expr: &Expr, p: &str) -> Result<String, QueryError> {
        Ok(match expr {
            Expr::And(a, b) => format!("({} AND {})", self.software(a, p)?, self.software(b, p)?),
            Expr::Or(a, b) => format!("({} OR {})", self.software(a, p)?, self.software(b, p)?),
            Expr::Not(e) => format!("(NOT COALESCE({}, FALSE))", self.software(e, p)?),
            Expr::Related { position, .. } => {
                return Err(QueryError {
                    position: *position,
                    message: "software(…) cannot contain a relation".into(),
                })
            }
            Expr::Compare(c) => {
                let text = match &c.value {
                    Value::Text(t) => t.clone(),
                    Value::Number(n) => number_text(*n),
                    _ => {
                        return Err(QueryError {
                            position: c.position,
                            message: "software fields compare with text or versions".into(),
                        })
                    }
                };
                match (c.field.as_str(), c.op) {
                    ("name", Op::Eq) => {
                        // Package names are exact (and indexed): no case folding here.
                        let v = self.bind(Bind::Text(text));
                        format!("{p}.name = {v}")
                    }
                    ("version", op) if op.is_ordering() || op == Op::Eq || op == Op::Ne => {
                        let v = self.bind(Bind::Text(version_key(&text)));
                        format!("{p}.version_key {} {v}", op.sql())
                    }
                    ("name" | "version" | "architecture" | "source", op) => {
                        let column = format!("{p}.{}", c.field);
                        self.text_compare(&column, op, &text, c)?
                    }
                    (other, _) => {
                        return Err(QueryError {
                            position: c.position,
                            message: format!(
                            "software has name, version, architecture and source, not `{other}`"
                        ),
                        })
                    }
                }
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::super::parse;
    use super::*;

    #[test]
    fn values_are_bound_never_spliced() {
        let q = parse("name = \"x'; DROP TABLE tenants; --\" and memory < 8GB").expect("parses");
        let compiled = compile(&q, Dialect::Postgres, 1).expect("compiles");
        assert!(!compiled.sql.contains("DROP"), "{}", compiled.sql);
        assert!(compiled
            .binds
            .contains(&Bind::Text("x'; drop table tenants; --".into())));
        assert!(compiled.binds.contains(&Bind::Float(8.0 * 1_073_741_824.0)));
        let placeholders = compiled.sql.matches('$').count();
        assert!(placeholders >= compiled.binds.len());
    }

    #[test]
    fn versions_compare_by_key_and_text_ordering_is_refused() {
        let q = parse("software(name = openssl and version < 3.0.10)").expect("parses");
        let compiled = compile(&q, Dialect::Sqlite, 2).expect("compiles");
        assert!(compiled.binds.contains(&Bind::Text(version_key("3.0.10"))));
        assert!(compiled.sql.contains("$2"));
        let q = parse("os < debian").expect("parses");
        let e = compile(&q, Dialect::Sqlite, 1).expect_err("text ordering");
        assert!(e.message.contains("ordering needs"), "{e}");
        let q = parse("frobnicator(name = x)").expect("parses");
        assert!(compile(&q, Dialect::Sqlite, 1)
            .expect_err("unknown class")
            .message
            .contains("unknown class"));
        let q = parse("memory < 10%").expect("parses");
        assert!(compile(&q, Dialect::Sqlite, 1).is_err());
    }

    #[test]
    fn like_patterns_escape_and_wildcard() {
        assert_eq!(like_pattern("Web*01"), "%web%01%");
        assert_eq!(like_pattern("100%_x"), "%100\\%\\_x%");
    }
}
