//! The two migration folders describe one schema: a fresh SQLite and a fresh PostgreSQL database,
//! each migrated by the server, are read back from their catalogues and compared — tables,
//! columns (type in a common vocabulary, nullability, default, identity, generated), primary keys,
//! unique constraints, foreign keys, check constraints, indexes (unique, keys or expressions,
//! partial-index predicate), triggers, functions and storage parameters.
//!
//! Where the backends legitimately differ, [`ALLOWED`] says so, one entry per difference, each
//! with the reason. The test fails on any difference not listed and on any entry that no longer
//! matches a difference, so the list only ever describes today's schemas.
//!
//! Expressions (defaults, checks, index expressions and predicates) are compared after
//! [`normalise`]: lower case outside literals, casts dropped (`'x'::text`, `CAST(x AS T)`),
//! `= ANY (ARRAY[…])` read as `IN (…)`, and parentheses that change nothing removed — enough for
//! PostgreSQL's re-printed expressions to meet the SQL text SQLite keeps.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::io::Write as _;

use sqlx::{Connection, PgConnection, SqliteConnection};

use crate::db::TestDb;

/// Differences the backends are allowed to have: (what differs, as the failure message names it;
/// why it is allowed).
const ALLOWED: &[(&str, &str)] = &[
    // SQLite lets a PRIMARY KEY column that is not the rowid hold NULL unless it is declared
    // NOT NULL (a documented legacy quirk, https://www.sqlite.org/lang_createtable.html); 0001,
    // 0009 and 0011 did not declare it. The store always binds the key (a new UUID in
    // `Store::create_agent`, a lease name, a secret name), and declaring it now would mean
    // rebuilding each table on every SQLite installation — `agents`, the most written table,
    // which `reports` references — for a guarantee the code already gives.
    (
        "agents.id nullability",
        "SQLite legacy: a TEXT PRIMARY KEY may be NULL; the store always binds a UUID",
    ),
    (
        "job_leases.name nullability",
        "SQLite legacy: a TEXT PRIMARY KEY may be NULL; leases are taken by a name from code",
    ),
    (
        "server_secrets.name nullability",
        "SQLite legacy: a TEXT PRIMARY KEY may be NULL; secrets are stored by a name from code",
    ),
    // `rules_revision` holds one row, id 1, inserted by 0015 and kept so by CHECK (id = 1). On
    // SQLite an INTEGER PRIMARY KEY is always the rowid, which the engine would fill in; nothing
    // ever inserts without the id.
    (
        "rules_revision.id identity",
        "SQLite's INTEGER PRIMARY KEY is always the rowid; the single row has id 1",
    ),
    // The asset-query columns (0010, 0013): SQLite computes them when read (VIRTUAL generated
    // columns); PostgreSQL would recompute STORED ones on every update of the row, so since
    // 0017 they are plain columns kept by the `configuration_items_derive` trigger, which
    // derives them the same way.
    (
        "configuration_items.used_percent generated",
        "PostgreSQL keeps it by trigger (0017); SQLite's VIRTUAL column costs nothing on write",
    ),
    (
        "configuration_items.memory_total_bytes generated",
        "PostgreSQL keeps it by trigger (0017); SQLite's VIRTUAL column costs nothing on write",
    ),
    (
        "configuration_items.os_name generated",
        "PostgreSQL keeps it by trigger (0017); SQLite's VIRTUAL column costs nothing on write",
    ),
    (
        "trigger configuration_items_derive",
        "PostgreSQL's way of keeping the asset-query columns (0017, 0019); SQLite's are VIRTUAL",
    ),
    (
        "function configuration_items_derive",
        "the body of PostgreSQL's configuration_items_derive trigger",
    ),
    // jsonb copies of the two JSON text columns, for the query compiler's PostgreSQL SQL
    // (`cmdb::query::sql`); SQLite's JSON functions read the text directly.
    (
        "configuration_items.attributes_jsonb",
        "PostgreSQL-only jsonb copy of `attributes` for the CMDB query compiler (0010)",
    ),
    (
        "configuration_items.metrics_jsonb",
        "PostgreSQL-only jsonb copy of `metrics` for the CMDB query compiler (0010)",
    ),
    // 0019 let PostgreSQL refresh a volume as a HOT update: the index holds the whole-number
    // band of `used_percent` (with INCLUDE columns, which SQLite has not), and the query
    // compiler reads the band only on PostgreSQL. SQLite has no HOT updates and indexes the
    // VIRTUAL column itself.
    (
        "configuration_items.used_percent_band",
        "PostgreSQL-only: lets a volume refresh be a HOT update (0019)",
    ),
    (
        "index configuration_items_by_used_percent_band",
        "PostgreSQL's used_percent index since 0019: by band, with INCLUDE columns",
    ),
    (
        "index configuration_items_by_used_percent",
        "SQLite's used_percent index; PostgreSQL replaced its own by the band index (0019)",
    ),
    // Free space on each page for HOT updates (0019): a PostgreSQL storage parameter.
    (
        "agents storage",
        "fillfactor: PostgreSQL-only storage parameter for HOT updates (0019)",
    ),
    (
        "configuration_items storage",
        "fillfactor: PostgreSQL-only storage parameter for HOT updates (0019)",
    ),
    // The rules revision counter (0015): SQLite triggers fire per row and per event, so it has
    // three; PostgreSQL has one statement-level trigger for every event (and TRUNCATE), which
    // calls a function. Both bump the counter on any change to `rules`.
    (
        "trigger rules_revision_on_insert",
        "SQLite's per-event trigger; PostgreSQL has one for every event",
    ),
    (
        "trigger rules_revision_on_update",
        "SQLite's per-event trigger; PostgreSQL has one for every event",
    ),
    (
        "trigger rules_revision_on_delete",
        "SQLite's per-event trigger; PostgreSQL has one for every event",
    ),
    (
        "trigger rules_revision_on_change",
        "PostgreSQL's single trigger for what SQLite's three rules_revision_on_* do",
    ),
    (
        "function rules_revision_bump",
        "the body of PostgreSQL's rules_revision_on_change trigger",
    ),
    // 0016: both backends have the trigger `reports_touch_agent`; PostgreSQL's body is a
    // function of the same name.
    (
        "function reports_touch_agent",
        "the body of PostgreSQL's reports_touch_agent trigger (SQLite writes it inline)",
    ),
];

/// Tables left out of the comparison altogether, with the reason. Each must exist on both sides,
/// or the entry is stale. (Names starting with `sqlite_` are not listed: SQLite reserves them for
/// itself and refuses to create such a table, so they can never come from a migration.)
const IGNORED_TABLES: &[(&str, &str)] = &[(
    "_sqlx_migrations",
    "sqlx's ledger of applied migrations, created by sqlx itself with each backend's own types \
     (TIMESTAMP vs TIMESTAMPTZ, BLOB vs BYTEA); not described by our migration files",
)];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_and_postgres_migrations_build_the_same_schema() {
    let sqlite_db = TestDb::sqlite().await;
    let mut conn = SqliteConnection::connect(&sqlite_db.url)
        .await
        .expect("open the migrated SQLite database");
    let sqlite = read_sqlite(&mut conn).await;
    conn.close().await.ok();
    sqlite_db.cleanup().await;
    assert!(
        sqlite.tables.contains_key("incidents") && sqlite.indexes.len() > 10,
        "the SQLite catalogue reader found too little: {:?}",
        sqlite.tables.keys().collect::<Vec<_>>()
    );

    let Some(pg_db) = TestDb::postgres().await else {
        let _ = writeln!(
            std::io::stderr(),
            "\n*** schema comparison SKIPPED: only the SQLite schema was read. Set \
             ATALAYA_TEST_DATABASE_URL=postgres://postgres@127.0.0.1/postgres to compare it with \
             PostgreSQL's ***\n"
        );
        return;
    };
    let mut conn = PgConnection::connect(&pg_db.url)
        .await
        .expect("open the migrated PostgreSQL database");
    let postgres = read_postgres(&mut conn).await;
    conn.close().await.ok();
    pg_db.cleanup().await;

    let mut failures = Vec::new();
    for (table, why) in IGNORED_TABLES {
        let on_sqlite = sqlite.ignored.contains(*table);
        let on_postgres = postgres.ignored.contains(*table);
        if !(on_sqlite && on_postgres) {
            failures.push(format!(
                "stale IGNORED_TABLES entry {table:?} (sqlite has it: {on_sqlite}, postgres has \
                 it: {on_postgres}); it was ignored because: {why}"
            ));
        }
    }
    let differences = compare(&sqlite, &postgres);
    let allowed: BTreeMap<&str, &str> = ALLOWED.iter().copied().collect();
    assert_eq!(allowed.len(), ALLOWED.len(), "ALLOWED lists an entry twice");
    for difference in &differences {
        if !allowed.contains_key(difference.what.as_str()) {
            failures.push(format!("schemas differ: {difference}"));
        }
    }
    let found: BTreeSet<&str> = differences.iter().map(|d| d.what.as_str()).collect();
    for (what, why) in ALLOWED {
        if !found.contains(what) {
            failures.push(format!(
                "stale ALLOWED entry {what:?}: the schemas no longer differ there (it was \
                 allowed because: {why}); remove it"
            ));
        }
    }
    eprintln!(
        "schema comparison: sqlite has {}; postgres has {}; {} differences, {} of them allowed",
        sqlite.census(),
        postgres.census(),
        differences.len(),
        differences
            .iter()
            .filter(|d| allowed.contains_key(d.what.as_str()))
            .count()
    );
    assert!(
        failures.is_empty(),
        "the SQLite and PostgreSQL migrations disagree ({} problems). Fix the schema with a new \
         migration in both folders, or, if the difference is the backends' own, add it to \
         ALLOWED with the reason:\n  {}",
        failures.len(),
        failures.join("\n  ")
    );
}

#[test]
fn both_folders_hold_the_same_migrations() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../migrations");
    let names = |backend: &str| -> BTreeSet<String> {
        std::fs::read_dir(root.join(backend))
            .unwrap_or_else(|e| panic!("read migrations/{backend}: {e}"))
            .map(|entry| {
                entry
                    .expect("directory entry")
                    .file_name()
                    .to_string_lossy()
                    .into_owned()
            })
            .filter(|name| name.ends_with(".sql"))
            .collect()
    };
    let sqlite = names("sqlite");
    let postgres = names("postgres");
    assert!(sqlite.len() > 10, "too few migrations found: {sqlite:?}");
    let only_sqlite: Vec<_> = sqlite.difference(&postgres).collect();
    let only_postgres: Vec<_> = postgres.difference(&sqlite).collect();
    assert!(
        only_sqlite.is_empty() && only_postgres.is_empty(),
        "every migration needs a file of the same name in both folders; only in sqlite/: \
         {only_sqlite:?}; only in postgres/: {only_postgres:?}"
    );
}

// ---------------------------------------------------------------------------------------------
// The schema, as both backends can describe it.

#[derive(Debug, Default)]
struct Schema {
    tables: BTreeMap<String, Table>,
    /// Indexes created by `CREATE INDEX`; those behind a primary key or unique constraint are
    /// the constraint's and compared with it.
    indexes: BTreeMap<String, Index>,
    views: BTreeSet<String>,
    /// Trigger name → its table.
    triggers: BTreeMap<String, String>,
    functions: BTreeSet<String>,
    /// Tables of [`IGNORED_TABLES`] seen in this database.
    ignored: BTreeSet<String>,
}

#[derive(Debug, Default)]
struct Table {
    columns: Vec<(String, Column)>,
    primary_key: Vec<String>,
    uniques: BTreeSet<Vec<String>>,
    /// `(columns) -> table (columns)` → `on delete …, on update …`.
    foreign_keys: BTreeMap<String, String>,
    checks: BTreeSet<String>,
    /// Storage parameters and table options: `fillfactor=70`, `without rowid`, …
    storage: String,
}

#[derive(Debug, Clone, PartialEq)]
struct Column {
    ty: String,
    not_null: bool,
    default: Option<String>,
    /// Filled in by the database when not given (SQLite's rowid alias, PostgreSQL's identity).
    identity: bool,
    /// Computed from other columns by the database.
    generated: bool,
}

#[derive(Debug, Clone, PartialEq)]
struct Index {
    table: String,
    unique: bool,
    keys: Vec<String>,
    /// PostgreSQL's `INCLUDE (…)` columns.
    include: Vec<String>,
    predicate: Option<String>,
}

impl Schema {
    /// How much was read, so a reader that silently finds nothing shows.
    fn census(&self) -> String {
        let sum = |f: fn(&Table) -> usize| self.tables.values().map(f).sum::<usize>();
        format!(
            "{} tables, {} columns, {} unique constraints, {} foreign keys, {} checks, {} indexes \
             ({} partial, {} on expressions), {} triggers, {} functions",
            self.tables.len(),
            sum(|t| t.columns.len()),
            sum(|t| t.uniques.len()),
            sum(|t| t.foreign_keys.len()),
            sum(|t| t.checks.len()),
            self.indexes.len(),
            self.indexes
                .values()
                .filter(|i| i.predicate.is_some())
                .count(),
            self.indexes
                .values()
                .filter(|i| i.keys.iter().any(|k| k.contains('(')))
                .count(),
            self.triggers.len(),
            self.functions.len(),
        )
    }
}

impl fmt::Display for Column {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.ty)?;
        f.write_str(if self.not_null { " NOT NULL" } else { " NULL" })?;
        if let Some(default) = &self.default {
            write!(f, " DEFAULT {default}")?;
        }
        if self.identity {
            f.write_str(" identity")?;
        }
        if self.generated {
            f.write_str(" generated")?;
        }
        Ok(())
    }
}

impl fmt::Display for Index {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.unique {
            f.write_str("UNIQUE ")?;
        }
        write!(f, "ON {} ({})", self.table, self.keys.join(", "))?;
        if !self.include.is_empty() {
            write!(f, " INCLUDE ({})", self.include.join(", "))?;
        }
        if let Some(predicate) = &self.predicate {
            write!(f, " WHERE {predicate}")?;
        }
        Ok(())
    }
}

// ---------------------------------------------------------------------------------------------
// Comparing.

/// One way the schemas differ. `what` names the place (and is what [`ALLOWED`] lists).
#[derive(Debug)]
struct Difference {
    what: String,
    sqlite: String,
    postgres: String,
}

impl fmt::Display for Difference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}: sqlite says {}, postgres says {}",
            self.what, self.sqlite, self.postgres
        )
    }
}

const ABSENT: &str = "(absent)";

fn compare(sqlite: &Schema, postgres: &Schema) -> Vec<Difference> {
    let mut out = Vec::new();
    let mut differ = |what: String, s: String, p: String| {
        if s != p {
            out.push(Difference {
                what,
                sqlite: s,
                postgres: p,
            });
        }
    };
    let shown = |present: bool, what: &str| {
        if present {
            what.to_string()
        } else {
            ABSENT.to_string()
        }
    };

    for name in union(sqlite.tables.keys(), postgres.tables.keys()) {
        let (Some(s), Some(p)) = (sqlite.tables.get(&name), postgres.tables.get(&name)) else {
            differ(
                format!("table {name}"),
                shown(sqlite.tables.contains_key(&name), "a table"),
                shown(postgres.tables.contains_key(&name), "a table"),
            );
            continue;
        };
        let s_columns: BTreeMap<&str, &Column> =
            s.columns.iter().map(|(n, c)| (n.as_str(), c)).collect();
        let p_columns: BTreeMap<&str, &Column> =
            p.columns.iter().map(|(n, c)| (n.as_str(), c)).collect();
        for column in union(s_columns.keys(), p_columns.keys()) {
            let (Some(sc), Some(pc)) = (s_columns.get(column), p_columns.get(column)) else {
                let describe =
                    |c: Option<&&Column>| c.map_or(ABSENT.to_string(), |c| c.to_string());
                differ(
                    format!("{name}.{column}"),
                    describe(s_columns.get(column)),
                    describe(p_columns.get(column)),
                );
                continue;
            };
            let at = |attribute: &str| format!("{name}.{column} {attribute}");
            differ(at("type"), sc.ty.clone(), pc.ty.clone());
            differ(
                at("nullability"),
                null_word(sc.not_null),
                null_word(pc.not_null),
            );
            differ(
                at("default"),
                sc.default.clone().unwrap_or_else(|| "no default".into()),
                pc.default.clone().unwrap_or_else(|| "no default".into()),
            );
            differ(at("identity"), yes_no(sc.identity), yes_no(pc.identity));
            differ(at("generated"), yes_no(sc.generated), yes_no(pc.generated));
        }
        // The order matters to `SELECT *` and to anyone reading the tables side by side.
        let common_order = |t: &Table, other: &BTreeMap<&str, &Column>| {
            t.columns
                .iter()
                .map(|(n, _)| n.as_str())
                .filter(|n| other.contains_key(n))
                .collect::<Vec<_>>()
                .join(", ")
        };
        differ(
            format!("{name} column order"),
            common_order(s, &p_columns),
            common_order(p, &s_columns),
        );
        differ(
            format!("{name} primary key"),
            format!("({})", s.primary_key.join(", ")),
            format!("({})", p.primary_key.join(", ")),
        );
        for unique in union(s.uniques.iter(), p.uniques.iter()) {
            differ(
                format!("{name} unique ({})", unique.join(", ")),
                shown(s.uniques.contains(&unique), "a constraint"),
                shown(p.uniques.contains(&unique), "a constraint"),
            );
        }
        for fk in union(s.foreign_keys.keys(), p.foreign_keys.keys()) {
            differ(
                format!("{name} foreign key {fk}"),
                s.foreign_keys
                    .get(&fk)
                    .cloned()
                    .unwrap_or_else(|| ABSENT.into()),
                p.foreign_keys
                    .get(&fk)
                    .cloned()
                    .unwrap_or_else(|| ABSENT.into()),
            );
        }
        for check in union(s.checks.iter(), p.checks.iter()) {
            differ(
                format!("{name} check ({check})"),
                shown(s.checks.contains(&check), "a constraint"),
                shown(p.checks.contains(&check), "a constraint"),
            );
        }
        let storage = |t: &Table| {
            if t.storage.is_empty() {
                "defaults".to_string()
            } else {
                t.storage.clone()
            }
        };
        differ(format!("{name} storage"), storage(s), storage(p));
    }

    for name in union(sqlite.indexes.keys(), postgres.indexes.keys()) {
        let describe = |schema: &Schema| {
            schema
                .indexes
                .get(&name)
                .map_or(ABSENT.to_string(), |i| i.to_string())
        };
        differ(
            format!("index {name}"),
            describe(sqlite),
            describe(postgres),
        );
    }
    for name in union(sqlite.views.iter(), postgres.views.iter()) {
        differ(
            format!("view {name}"),
            shown(sqlite.views.contains(&name), "a view"),
            shown(postgres.views.contains(&name), "a view"),
        );
    }
    for name in union(sqlite.triggers.keys(), postgres.triggers.keys()) {
        let describe = |schema: &Schema| {
            schema
                .triggers
                .get(&name)
                .map_or(ABSENT.to_string(), |table| format!("on {table}"))
        };
        differ(
            format!("trigger {name}"),
            describe(sqlite),
            describe(postgres),
        );
    }
    for name in union(sqlite.functions.iter(), postgres.functions.iter()) {
        differ(
            format!("function {name}"),
            shown(sqlite.functions.contains(&name), "a function"),
            shown(postgres.functions.contains(&name), "a function"),
        );
    }
    out
}

fn union<'a, T: Ord + Clone + 'a>(
    a: impl Iterator<Item = &'a T>,
    b: impl Iterator<Item = &'a T>,
) -> BTreeSet<T> {
    a.chain(b).cloned().collect()
}

fn yes_no(b: bool) -> String {
    if b { "yes" } else { "no" }.to_string()
}

fn null_word(not_null: bool) -> String {
    if not_null { "NOT NULL" } else { "NULL" }.to_string()
}

// ---------------------------------------------------------------------------------------------
// Types in one vocabulary.

/// SQLite keeps the declared type as written; this follows its affinity rules
/// (<https://www.sqlite.org/datatype3.html>, 3.1) after a few names it would file as NUMERIC.
/// SQLite's integers are 64-bit whatever the name.
fn sqlite_type(declared: &str) -> String {
    let t = declared.trim().to_ascii_uppercase();
    match t.as_str() {
        "BOOLEAN" | "BOOL" => return "boolean".into(),
        "JSON" => return "json".into(),
        "JSONB" => return "jsonb".into(),
        "" => return "untyped".into(),
        _ => {}
    }
    if t.contains("INT") {
        "integer".into()
    } else if t.contains("CHAR") || t.contains("CLOB") || t.contains("TEXT") {
        "text".into()
    } else if t.contains("BLOB") {
        "bytes".into()
    } else if t.contains("REAL") || t.contains("FLOA") || t.contains("DOUB") {
        "real".into()
    } else {
        format!("numeric ({})", t.to_ascii_lowercase())
    }
}

/// PostgreSQL's `format_type`. Narrower integers and floats keep their width: SQLite's are 64-bit,
/// so a PostgreSQL `integer` column would be a real difference.
fn postgres_type(formatted: &str) -> String {
    let t = formatted.trim();
    match t {
        "bigint" => "integer".into(),
        "integer" => "integer (32-bit)".into(),
        "smallint" => "integer (16-bit)".into(),
        "double precision" => "real".into(),
        "real" => "real (32-bit)".into(),
        "text" => "text".into(),
        "bytea" => "bytes".into(),
        other if other.starts_with("character") || other.starts_with("varchar") => "text".into(),
        other => other.into(),
    }
}

// ---------------------------------------------------------------------------------------------
// SQLite, from sqlite_master and the pragma table functions.

/// `pragma_foreign_key_list`: id, seq, table, from, to, on_update, on_delete.
type SqliteForeignKeyRow = (i64, i64, String, String, Option<String>, String, String);

async fn read_sqlite(conn: &mut SqliteConnection) -> Schema {
    let mut schema = Schema::default();
    let objects: Vec<(String, String, String, Option<String>)> = sqlx::query_as(
        "SELECT type, name, tbl_name, sql FROM sqlite_master \
         WHERE name NOT LIKE 'sqlite\\_%' ESCAPE '\\' ORDER BY type, name",
    )
    .fetch_all(&mut *conn)
    .await
    .expect("read sqlite_master");

    for (kind, name, table, _) in &objects {
        match kind.as_str() {
            "view" => {
                schema.views.insert(name.clone());
            }
            "trigger" => {
                schema.triggers.insert(name.clone(), table.clone());
            }
            _ => {}
        }
    }

    let mut tables: Vec<(&String, &str)> = Vec::new();
    for (kind, name, _, sql) in &objects {
        if kind != "table" {
            continue;
        }
        if IGNORED_TABLES.iter().any(|(t, _)| t == name) {
            schema.ignored.insert(name.clone());
            continue;
        }
        tables.push((name, sql.as_deref().unwrap_or("")));
    }

    for (name, sql) in &tables {
        let tokens = tokenize(sql);
        let storage = sqlite_table_options(&tokens);
        let columns: Vec<(String, String, i64, Option<String>, i64, i64)> = sqlx::query_as(
            "SELECT name, type, \"notnull\", dflt_value, pk, hidden \
             FROM pragma_table_xinfo(?1) ORDER BY cid",
        )
        .bind(name.as_str())
        .fetch_all(&mut *conn)
        .await
        .expect("read pragma_table_xinfo");
        let mut pk: Vec<(i64, String)> = columns
            .iter()
            .filter(|c| c.4 > 0)
            .map(|c| (c.4, c.0.clone()))
            .collect();
        pk.sort();
        let primary_key: Vec<String> = pk.into_iter().map(|(_, c)| c).collect();
        // A rowid table's single INTEGER PRIMARY KEY is the rowid itself: never NULL, assigned
        // when not given (https://www.sqlite.org/lang_createtable.html#rowid).
        let rowid_alias = (!storage.contains("without rowid") && primary_key.len() == 1)
            .then(|| primary_key[0].clone())
            .filter(|c| {
                columns
                    .iter()
                    .any(|col| &col.0 == c && col.1.eq_ignore_ascii_case("INTEGER"))
            });
        let mut table = Table {
            primary_key,
            storage,
            ..Table::default()
        };
        for (column, declared, not_null, default, _, hidden) in columns {
            let is_rowid = rowid_alias.as_deref() == Some(column.as_str());
            table.columns.push((
                column,
                Column {
                    ty: sqlite_type(&declared),
                    not_null: not_null != 0 || is_rowid,
                    default: default.as_deref().map(normalise),
                    identity: is_rowid,
                    // 2: VIRTUAL generated, 3: STORED generated.
                    generated: hidden == 2 || hidden == 3,
                },
            ));
        }
        table.checks = sqlite_checks(&tokens);
        schema.tables.insert(name.to_string(), table);
    }

    // Foreign keys name the referenced columns, or none for the referenced primary key.
    for (name, _) in &tables {
        let fks: Vec<SqliteForeignKeyRow> = sqlx::query_as(
            "SELECT id, seq, \"table\", \"from\", \"to\", on_update, on_delete \
             FROM pragma_foreign_key_list(?1) ORDER BY id, seq",
        )
        .bind(name.as_str())
        .fetch_all(&mut *conn)
        .await
        .expect("read pragma_foreign_key_list");
        let mut by_id: BTreeMap<i64, Vec<_>> = BTreeMap::new();
        for fk in fks {
            by_id.entry(fk.0).or_default().push(fk);
        }
        for parts in by_id.values() {
            let referenced = &parts[0].2;
            let from: Vec<String> = parts.iter().map(|p| p.3.clone()).collect();
            let to: Vec<String> = if parts.iter().all(|p| p.4.is_some()) {
                parts.iter().filter_map(|p| p.4.clone()).collect()
            } else {
                schema
                    .tables
                    .get(referenced)
                    .map(|t| t.primary_key.clone())
                    .unwrap_or_default()
            };
            let key = format!("({}) -> {referenced} ({})", from.join(", "), to.join(", "));
            let actions = format!(
                "on delete {}, on update {}",
                parts[0].6.to_ascii_lowercase(),
                parts[0].5.to_ascii_lowercase()
            );
            if let Some(table) = schema.tables.get_mut(name.as_str()) {
                table.foreign_keys.insert(key, actions);
            }
        }
    }

    let index_sql: BTreeMap<&str, &str> = objects
        .iter()
        .filter(|o| o.0 == "index")
        .filter_map(|o| o.3.as_deref().map(|sql| (o.1.as_str(), sql)))
        .collect();
    for (name, _) in &tables {
        let list: Vec<(String, i64, String, i64)> = sqlx::query_as(
            "SELECT name, \"unique\", origin, partial FROM pragma_index_list(?1) ORDER BY name",
        )
        .bind(name.as_str())
        .fetch_all(&mut *conn)
        .await
        .expect("read pragma_index_list");
        for (index, unique, origin, partial) in list {
            let columns: Vec<(i64, i64, Option<String>, i64, i64)> = sqlx::query_as(
                "SELECT seqno, cid, name, \"desc\", key FROM pragma_index_xinfo(?1) \
                 WHERE key = 1 ORDER BY seqno",
            )
            .bind(&index)
            .fetch_all(&mut *conn)
            .await
            .expect("read pragma_index_xinfo");
            match origin.as_str() {
                // The primary key's own index: compared as the primary key.
                "pk" => continue,
                // A UNIQUE constraint's automatic index.
                "u" => {
                    let cols = columns.into_iter().filter_map(|c| c.2).collect();
                    if let Some(table) = schema.tables.get_mut(name.as_str()) {
                        table.uniques.insert(cols);
                    }
                    continue;
                }
                _ => {}
            }
            let sql = index_sql.get(index.as_str()).copied().unwrap_or("");
            let (expressions, predicate) = sqlite_index_parts(sql);
            let keys = columns
                .iter()
                .map(|(seqno, cid, column, desc, _)| {
                    // cid -2: an expression, only in the SQL text.
                    let key = match (cid, column) {
                        (-2, _) | (_, None) => expressions
                            .get(*seqno as usize)
                            .cloned()
                            .unwrap_or_else(|| "?".into()),
                        (_, Some(column)) => column.clone(),
                    };
                    if *desc != 0 {
                        format!("{key} desc")
                    } else {
                        key
                    }
                })
                .collect();
            assert_eq!(
                partial != 0,
                predicate.is_some(),
                "the WHERE clause of SQLite index {index} was not found in {sql:?}"
            );
            schema.indexes.insert(
                index,
                Index {
                    table: name.to_string(),
                    unique: unique != 0,
                    keys,
                    include: Vec::new(),
                    predicate,
                },
            );
        }
    }
    schema
}

/// What follows a `CREATE TABLE`'s closing parenthesis: `WITHOUT ROWID`, `STRICT`.
fn sqlite_table_options(tokens: &[String]) -> String {
    let Some(open) = tokens.iter().position(|t| t == "(") else {
        return String::new();
    };
    let close = matching(tokens, open);
    tokens[close + 1..]
        .iter()
        .filter(|t| *t != ",")
        .cloned()
        .collect::<Vec<_>>()
        .join(" ")
}

/// The normalised expressions of every `CHECK (…)` in a `CREATE TABLE`.
fn sqlite_checks(tokens: &[String]) -> BTreeSet<String> {
    let mut checks = BTreeSet::new();
    for i in 0..tokens.len() {
        if tokens[i] == "check" && tokens.get(i + 1).map(String::as_str) == Some("(") {
            let close = matching(tokens, i + 1);
            checks.insert(normalise_tokens(tokens[i + 2..close].to_vec()));
        }
    }
    checks
}

/// A `CREATE INDEX`'s key items (normalised, ordering and collation dropped) and its `WHERE`.
fn sqlite_index_parts(sql: &str) -> (Vec<String>, Option<String>) {
    let tokens = tokenize(sql);
    let Some(open) = tokens.iter().position(|t| t == "(") else {
        return (Vec::new(), None);
    };
    let close = matching(&tokens, open);
    let mut items = Vec::new();
    let mut current = Vec::new();
    let mut depth = 0;
    for token in &tokens[open + 1..close] {
        match token.as_str() {
            "(" => depth += 1,
            ")" => depth -= 1,
            "," if depth == 0 => {
                items.push(std::mem::take(&mut current));
                continue;
            }
            _ => {}
        }
        current.push(token.clone());
    }
    items.push(current);
    let items = items
        .into_iter()
        .map(|mut item| {
            if let Some(at) = item.iter().position(|t| t == "collate") {
                item.truncate(at);
            }
            while matches!(item.last().map(String::as_str), Some("asc" | "desc")) {
                item.pop();
            }
            normalise_tokens(item)
        })
        .collect();
    let rest = &tokens[close + 1..];
    let predicate = (rest.first().map(String::as_str) == Some("where"))
        .then(|| normalise_tokens(rest[1..].to_vec()));
    (items, predicate)
}

// ---------------------------------------------------------------------------------------------
// PostgreSQL, from pg_catalog (schema `public`, where the migrations create everything).

/// A constraint: kind, columns, referenced table and columns, on delete, on update, check.
type PgConstraintRow = (
    String,
    Vec<String>,
    Option<String>,
    Vec<String>,
    String,
    String,
    Option<String>,
);

async fn read_postgres(conn: &mut PgConnection) -> Schema {
    let mut schema = Schema::default();
    let relations: Vec<(String, String, String, String)> = sqlx::query_as(
        "SELECT c.relname::text, c.relkind::text, c.relpersistence::text, \
                COALESCE(array_to_string(c.reloptions, ','), '') \
         FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace \
         WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p', 'v', 'm') ORDER BY 1",
    )
    .fetch_all(&mut *conn)
    .await
    .expect("read pg_class");

    let mut tables = Vec::new();
    for (name, kind, persistence, options) in relations {
        if kind == "v" || kind == "m" {
            schema.views.insert(name);
            continue;
        }
        if IGNORED_TABLES.iter().any(|(t, _)| *t == name) {
            schema.ignored.insert(name);
            continue;
        }
        let mut storage = Vec::new();
        if persistence == "u" {
            storage.push("unlogged".to_string());
        }
        if !options.is_empty() {
            storage.push(options);
        }
        tables.push((name, storage.join(" ")));
    }

    for (name, storage) in tables {
        let columns: Vec<(String, String, bool, Option<String>, String, String)> = sqlx::query_as(
            "SELECT a.attname::text, format_type(a.atttypid, a.atttypmod), a.attnotnull, \
                    pg_get_expr(d.adbin, d.adrelid), a.attidentity::text, a.attgenerated::text \
             FROM pg_attribute a \
             LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum \
             WHERE a.attrelid = ('public.' || quote_ident($1))::regclass \
               AND a.attnum > 0 AND NOT a.attisdropped \
             ORDER BY a.attnum",
        )
        .bind(&name)
        .fetch_all(&mut *conn)
        .await
        .expect("read pg_attribute");
        let mut table = Table {
            storage,
            ..Table::default()
        };
        for (column, ty, not_null, default, identity, generated) in columns {
            let generated = !generated.is_empty();
            // A generated column's expression sits where a default would; `serial` is a
            // sequence default: both are not defaults in the sense compared here.
            let serial = default
                .as_deref()
                .is_some_and(|d| d.starts_with("nextval("));
            table.columns.push((
                column,
                Column {
                    ty: postgres_type(&ty),
                    not_null,
                    default: default
                        .filter(|_| !generated && !serial)
                        .as_deref()
                        .map(normalise),
                    identity: !identity.is_empty() || serial,
                    generated,
                },
            ));
        }

        let constraints: Vec<PgConstraintRow> =
            sqlx::query_as(
                "SELECT con.contype::text, \
                        ARRAY(SELECT a.attname::text FROM unnest(con.conkey) WITH ORDINALITY k(n, i) \
                              JOIN pg_attribute a ON a.attrelid = con.conrelid AND a.attnum = k.n \
                              ORDER BY k.i), \
                        ref.relname::text, \
                        ARRAY(SELECT a.attname::text FROM unnest(con.confkey) WITH ORDINALITY k(n, i) \
                              JOIN pg_attribute a ON a.attrelid = con.confrelid AND a.attnum = k.n \
                              ORDER BY k.i), \
                        con.confdeltype::text, con.confupdtype::text, \
                        pg_get_expr(con.conbin, con.conrelid) \
                 FROM pg_constraint con LEFT JOIN pg_class ref ON ref.oid = con.confrelid \
                 WHERE con.conrelid = ('public.' || quote_ident($1))::regclass",
            )
            .bind(&name)
            .fetch_all(&mut *conn)
            .await
            .expect("read pg_constraint");
        for (kind, columns, referenced, referenced_columns, on_delete, on_update, check) in
            constraints
        {
            match kind.as_str() {
                "p" => table.primary_key = columns,
                "u" => {
                    table.uniques.insert(columns);
                }
                "f" => {
                    let key = format!(
                        "({}) -> {} ({})",
                        columns.join(", "),
                        referenced.unwrap_or_default(),
                        referenced_columns.join(", ")
                    );
                    let actions = format!(
                        "on delete {}, on update {}",
                        fk_action(&on_delete),
                        fk_action(&on_update)
                    );
                    table.foreign_keys.insert(key, actions);
                }
                "c" => {
                    table
                        .checks
                        .insert(normalise(check.as_deref().unwrap_or("")));
                }
                other => panic!("constraint kind {other:?} on {name} is not compared yet"),
            }
        }

        let indexes: Vec<(String, bool, i64, i64, Option<String>)> = sqlx::query_as(
            "SELECT i.relname::text, ix.indisunique, ix.indnkeyatts::int8, ix.indnatts::int8, \
                    pg_get_expr(ix.indpred, ix.indrelid) \
             FROM pg_index ix JOIN pg_class i ON i.oid = ix.indexrelid \
             WHERE ix.indrelid = ('public.' || quote_ident($1))::regclass \
               AND NOT EXISTS (SELECT 1 FROM pg_constraint con \
                               WHERE con.conindid = ix.indexrelid AND con.contype IN ('p', 'u', 'x'))",
        )
        .bind(&name)
        .fetch_all(&mut *conn)
        .await
        .expect("read pg_index");
        for (index, unique, key_count, _, predicate) in indexes {
            let columns: Vec<(i64, String, bool)> = sqlx::query_as(
                "SELECT k::int8, pg_get_indexdef(ix.indexrelid, k, true), \
                        COALESCE((ix.indoption[k - 1] & 1) = 1, false) \
                 FROM pg_index ix, generate_series(1, ix.indnatts::int) k \
                 WHERE ix.indexrelid = ('public.' || quote_ident($1))::regclass ORDER BY k",
            )
            .bind(&index)
            .fetch_all(&mut *conn)
            .await
            .expect("read the index's columns");
            let mut keys = Vec::new();
            let mut include = Vec::new();
            for (k, definition, desc) in columns {
                let key = normalise(&definition);
                if k <= key_count {
                    keys.push(if desc { format!("{key} desc") } else { key });
                } else {
                    include.push(key);
                }
            }
            schema.indexes.insert(
                index,
                Index {
                    table: name.clone(),
                    unique,
                    keys,
                    include,
                    predicate: predicate.as_deref().map(normalise),
                },
            );
        }
        schema.tables.insert(name, table);
    }

    let triggers: Vec<(String, String)> = sqlx::query_as(
        "SELECT t.tgname::text, c.relname::text FROM pg_trigger t \
         JOIN pg_class c ON c.oid = t.tgrelid JOIN pg_namespace n ON n.oid = c.relnamespace \
         WHERE n.nspname = 'public' AND NOT t.tgisinternal",
    )
    .fetch_all(&mut *conn)
    .await
    .expect("read pg_trigger");
    schema.triggers.extend(triggers);
    let functions: Vec<(String,)> = sqlx::query_as(
        "SELECT p.proname::text FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace \
         WHERE n.nspname = 'public'",
    )
    .fetch_all(&mut *conn)
    .await
    .expect("read pg_proc");
    schema.functions.extend(functions.into_iter().map(|(f,)| f));
    schema
}

/// `pg_constraint.confdeltype` / `confupdtype`, in SQLite's words.
fn fk_action(code: &str) -> &'static str {
    match code {
        "a" => "no action",
        "r" => "restrict",
        "c" => "cascade",
        "n" => "set null",
        "d" => "set default",
        _ => "?",
    }
}

// ---------------------------------------------------------------------------------------------
// Expressions in one spelling.

/// SQL text as tokens: string literals kept whole (with their quotes), quoted identifiers
/// unquoted, everything else lower case; comments dropped.
fn tokenize(sql: &str) -> Vec<String> {
    let chars: Vec<char> = sql.chars().collect();
    let mut tokens = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        let next = chars.get(i + 1).copied();
        if c.is_whitespace() {
            i += 1;
        } else if c == '-' && next == Some('-') {
            while i < chars.len() && chars[i] != '\n' {
                i += 1;
            }
        } else if c == '/' && next == Some('*') {
            i += 2;
            while i < chars.len() && !(chars[i] == '*' && chars.get(i + 1) == Some(&'/')) {
                i += 1;
            }
            i += 2;
        } else if c == '\'' || c == '"' {
            // '' (or "") inside is the quote itself.
            let start = i;
            i += 1;
            loop {
                match chars.get(i) {
                    None => break,
                    Some(&q) if q == c && chars.get(i + 1) == Some(&c) => i += 2,
                    Some(&q) if q == c => {
                        i += 1;
                        break;
                    }
                    Some(_) => i += 1,
                }
            }
            let text: String = chars[start..i].iter().collect();
            tokens.push(if c == '"' {
                text.trim_matches('"').replace("\"\"", "\"")
            } else {
                text
            });
        } else if c.is_alphanumeric() || c == '_' {
            let start = i;
            while i < chars.len()
                && (chars[i].is_alphanumeric() || chars[i] == '_' || chars[i] == '.')
            {
                i += 1;
            }
            tokens.push(chars[start..i].iter().collect::<String>().to_lowercase());
        } else {
            let rest: String = chars[i..chars.len().min(i + 3)].iter().collect();
            let op = ["->>", "::", "<>", "!=", "<=", ">=", "||", "->"]
                .into_iter()
                .find(|op| rest.starts_with(op))
                .unwrap_or(&rest[..c.len_utf8()]);
            i += op.chars().count();
            tokens.push(if op == "!=" { "<>".into() } else { op.into() });
        }
    }
    tokens
}

fn normalise(sql: &str) -> String {
    normalise_tokens(tokenize(sql))
}

fn normalise_tokens(mut tokens: Vec<String>) -> String {
    drop_casts(&mut tokens);
    loop {
        let before = tokens.clone();
        drop_needless_parentheses(&mut tokens);
        any_array_as_in(&mut tokens);
        if tokens == before {
            break;
        }
    }
    render(&tokens)
}

/// `x::double precision`, `x::text[]`, `CAST(x AS BIGINT)`: the value as written.
fn drop_casts(tokens: &mut Vec<String>) {
    let mut out = Vec::with_capacity(tokens.len());
    let mut i = 0;
    while i < tokens.len() {
        if tokens[i] == "::" {
            i += 2; // `::` and the type's first word
            while i < tokens.len()
                && matches!(
                    tokens[i].as_str(),
                    "precision" | "varying" | "with" | "without" | "time" | "zone"
                )
            {
                i += 1;
            }
            if tokens.get(i).map(String::as_str) == Some("(") {
                i = matching(tokens, i) + 1;
            }
            while tokens.get(i).map(String::as_str) == Some("[")
                && tokens.get(i + 1).map(String::as_str) == Some("]")
            {
                i += 2;
            }
            continue;
        }
        if tokens[i] == "cast" && tokens.get(i + 1).map(String::as_str) == Some("(") {
            let close = matching(tokens, i + 1);
            let mut depth = 0;
            let mut at = None;
            for (j, token) in tokens.iter().enumerate().take(close).skip(i + 2) {
                match token.as_str() {
                    "(" => depth += 1,
                    ")" => depth -= 1,
                    "as" if depth == 0 => at = Some(j),
                    _ => {}
                }
            }
            if let Some(at) = at {
                let mut inner = tokens[i + 2..at].to_vec();
                drop_casts(&mut inner);
                out.push("(".to_string());
                out.extend(inner);
                out.push(")".to_string());
                i = close + 1;
                continue;
            }
        }
        out.push(tokens[i].clone());
        i += 1;
    }
    *tokens = out;
}

/// PostgreSQL prints `x IN ('a', 'b')` as `x = ANY (ARRAY['a', 'b'])`.
fn any_array_as_in(tokens: &mut Vec<String>) {
    let mut i = 0;
    while i + 4 < tokens.len() {
        let pattern = [
            &tokens[i],
            &tokens[i + 1],
            &tokens[i + 2],
            &tokens[i + 3],
            &tokens[i + 4],
        ];
        if pattern.map(String::as_str) == ["=", "any", "(", "array", "["] {
            let close_bracket = matching(tokens, i + 4);
            if tokens.get(close_bracket + 1).map(String::as_str) == Some(")") {
                let mut replaced = tokens[..i].to_vec();
                replaced.push("in".into());
                replaced.push("(".into());
                replaced.extend_from_slice(&tokens[i + 5..close_bracket]);
                replaced.push(")".into());
                replaced.extend_from_slice(&tokens[close_bracket + 2..]);
                *tokens = replaced;
            }
        }
        i += 1;
    }
}

/// Words after which `(` opens an argument or value list, not a grouping.
fn opens_a_list(previous: &str) -> bool {
    let word = previous
        .chars()
        .next()
        .is_some_and(|c| c.is_alphabetic() || c == '_');
    let grouping_keyword = matches!(
        previous,
        "and" | "or" | "not" | "when" | "then" | "else" | "case" | "where" | "is" | "like"
    );
    word && !grouping_keyword
}

/// Removes one pair of parentheses that changes nothing at a time, until none is left: around
/// the whole expression, around a single value, and around an `AND`/`OR` group whose
/// neighbours bind no tighter than what is inside (`NOT` binds tighter than `AND`).
fn drop_needless_parentheses(tokens: &mut Vec<String>) {
    'again: loop {
        for open in 0..tokens.len() {
            if tokens[open] != "(" {
                continue;
            }
            let previous = open.checked_sub(1).map(|p| tokens[p].as_str());
            if previous.is_some_and(opens_a_list) {
                continue;
            }
            let close = matching(tokens, open);
            let inner = &tokens[open + 1..close];
            let level = binding_level(inner);
            let left = match previous {
                None | Some("(" | "," | "when" | "then" | "else" | "where") => 3,
                Some("or") => 2,
                Some("and") => 1,
                Some("not") => 0,
                Some(_) => -1,
            };
            let right = match tokens.get(close + 1).map(String::as_str) {
                None | Some(")" | "," | "when" | "then" | "else" | "end") => 3,
                Some("or") => 2,
                Some("and") => 1,
                Some(_) => -1,
            };
            if level <= left.min(right) {
                tokens.remove(close);
                tokens.remove(open);
                continue 'again;
            }
        }
        break;
    }
}

/// How loosely the tokens bind at their top level: -1 a single value (a token, a call, a
/// parenthesised group), 0 an expression without `AND`/`OR`, 1 with `AND`, 2 with `OR`.
fn binding_level(tokens: &[String]) -> i32 {
    let mut depth = 0;
    let mut level = 0;
    let mut items = 0;
    let mut previous: Option<&str> = None;
    for token in tokens {
        let at_top = depth == 0;
        match token.as_str() {
            "(" | "[" => {
                // A call's or an array's brackets belong to the item before them.
                let continues = previous.is_some_and(|p| opens_a_list(p) || p == "array");
                if at_top && !continues {
                    items += 1;
                }
                depth += 1;
            }
            ")" | "]" => depth -= 1,
            "or" if at_top => level = 2,
            "and" if at_top => level = level.max(1),
            _ if at_top => items += 1,
            _ => {}
        }
        if at_top {
            previous = Some(token.as_str());
        }
    }
    if items <= 1 && level == 0 {
        -1
    } else {
        level
    }
}

/// The index of the bracket closing the one at `open` (`(` or `[`).
fn matching(tokens: &[String], open: usize) -> usize {
    let (opening, closing) = if tokens[open] == "[" {
        ("[", "]")
    } else {
        ("(", ")")
    };
    let mut depth = 0;
    for (i, token) in tokens.iter().enumerate().skip(open) {
        if token == opening {
            depth += 1;
        } else if token == closing {
            depth -= 1;
            if depth == 0 {
                return i;
            }
        }
    }
    tokens.len() - 1
}

fn render(tokens: &[String]) -> String {
    let mut out = String::new();
    for (i, token) in tokens.iter().enumerate() {
        let previous = i.checked_sub(1).map(|p| tokens[p].as_str());
        let glued = matches!(token.as_str(), ")" | "]" | ",")
            || matches!(previous, Some("(" | "["))
            || (token == "(" && previous.is_some_and(|p| opens_a_list(p) && p != "in"))
            || (token == "[" && previous == Some("array"));
        if i > 0 && !glued {
            out.push(' ');
        }
        out.push_str(token);
    }
    out
}

#[test]
fn expressions_are_compared_in_one_spelling() {
    let same = |sqlite: &str, postgres: &str| {
        assert_eq!(
            normalise(sqlite),
            normalise(postgres),
            "{sqlite} vs {postgres}"
        );
    };
    same(
        "rule_id IS NOT NULL AND state IN ('new', 'assigned')",
        "((rule_id IS NOT NULL) AND (state = ANY (ARRAY['new'::text, 'assigned'::text])))",
    );
    same(
        "rule_id IS NOT NULL AND state IN ('new', 'assigned')",
        "rule_id IS NOT NULL AND (state = ANY (ARRAY['new'::text, 'assigned'::text]))",
    );
    same("COALESCE(tenant_id, 0)", "COALESCE(tenant_id, (0)::bigint)");
    same("COALESCE(tenant_id, 0)", "COALESCE(tenant_id, 0::bigint)");
    same("'{}'", "'{}'::text");
    same("id = 1", "(id = 1)");
    same(
        "state != 'ok' OR flapping = 1",
        "((state <> 'ok'::text) OR (flapping = 1))",
    );
    same("CAST(x AS BIGINT) > 0", "(x)::bigint > 0");
    same(
        "kind = 'site_outage' AND cancelled_at IS NULL",
        "kind = 'site_outage'::text AND cancelled_at IS NULL",
    );
    // Grouping that matters stays.
    assert_ne!(normalise("(a OR b) AND c"), normalise("a OR b AND c"));
    assert_ne!(normalise("NOT (a AND b)"), normalise("NOT a AND b"));
    assert_ne!(normalise("(a + b) * c"), normalise("a + b * c"));
    // Literals keep their case.
    assert_ne!(normalise("x = 'OK'"), normalise("x = 'ok'"));
    assert_eq!(
        normalise("((rule_id IS NOT NULL) AND (state = ANY (ARRAY['new'::text])))"),
        "rule_id is not null and state in ('new')"
    );
    assert_eq!(
        sqlite_type("DOUBLE PRECISION"),
        postgres_type("double precision")
    );
    assert_eq!(sqlite_type("INTEGER"), postgres_type("bigint"));
    assert_eq!(sqlite_type("TEXT"), postgres_type("character varying(20)"));
    assert_ne!(sqlite_type("BIGINT"), postgres_type("integer"));
}
