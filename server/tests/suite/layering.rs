//! The modules depend one way. Every `crate::…` path in the server's and the agent's sources is
//! read into a graph of top-level modules (`store`, `desk`, `ingest`, …: the files and folders
//! under `src/`), and the graph must have no cycle.
//!
//! The server's direction is http, ingest, jobs → the lifecycle core (`desk`) → {rules, sla,
//! store}, and the store, at the bottom, imports no domain module — only the [`VOCABULARY`]
//! modules, which import nothing themselves (words and pure functions anyone may use: CI classes
//! and the query language, secrets and their hash). Edges that still go the wrong way today are
//! listed in [`WRONG_WAY`], each with the reason; the test fails on a wrong-way edge not listed,
//! on a listed edge that is gone (take it off the list), on a vocabulary module that imports
//! another module, and on any cycle left once the listed edges are set aside. Run with
//! `--nocapture` to see the graph.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Server edges against the direction that are still there: (from, to, why it is still there).
const WRONG_WAY: &[(&str, &str, &str)] = &[];

/// Leaf modules every layer may use, the store included: (module, what it holds).
const VOCABULARY: &[(&str, &str)] = &[
    (
        "ci",
        "CI classes, relation kinds, the asset query language and version ordering",
    ),
    (
        "secrets",
        "random bearer secrets and the hash they are stored under",
    ),
];

/// Top-level module → module it names → the files that name it.
type Graph = BTreeMap<String, BTreeMap<String, BTreeSet<String>>>;

fn src_dir(krate: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .join(krate)
        .join("src")
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("read src dir") {
        let path = entry.expect("dir entry").path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The top-level modules of a crate: every file and folder directly under `src/` but the roots.
fn top_level_modules(src: &Path) -> BTreeSet<String> {
    std::fs::read_dir(src)
        .expect("read src dir")
        .map(|e| e.expect("dir entry").path())
        .filter_map(|p| {
            let name = p.file_stem()?.to_str()?.to_owned();
            (p.is_dir() || p.extension().is_some_and(|e| e == "rs")).then_some(name)
        })
        .filter(|name| name != "lib" && name != "main")
        .collect()
}

/// The first path segment of every `crate::…` path in `code`, including each branch of a
/// `crate::{a, b::c}` group.
fn crate_paths(code: &str) -> Vec<String> {
    let mut found = Vec::new();
    let mut rest = code;
    while let Some(at) = rest.find("crate::") {
        let preceded_by_ident = rest[..at]
            .chars()
            .next_back()
            .is_some_and(|c| c.is_alphanumeric() || c == '_');
        rest = &rest[at + "crate::".len()..];
        if preceded_by_ident {
            continue; // e.g. `atalaya_crate::`
        }
        if let Some(group) = rest.strip_prefix('{') {
            let mut depth = 0usize;
            let mut start = 0;
            for (i, c) in group.char_indices() {
                match c {
                    '{' => depth += 1,
                    '}' if depth == 0 => {
                        found.push(first_ident(&group[start..i]));
                        break;
                    }
                    '}' => depth -= 1,
                    ',' if depth == 0 => {
                        found.push(first_ident(&group[start..i]));
                        start = i + 1;
                    }
                    _ => {}
                }
            }
        } else {
            found.push(first_ident(rest));
        }
    }
    found.retain(|name| !name.is_empty());
    found
}

fn first_ident(s: &str) -> String {
    s.trim_start()
        .chars()
        .take_while(|c| c.is_alphanumeric() || *c == '_')
        .collect()
}

/// Code without its line comments (doc comments name modules in links, which is no dependency).
fn without_comments(text: &str) -> String {
    text.lines()
        .map(|line| match line.find("//") {
            // `"http://…"` inside a string is rare and would only hide the rest of its line.
            Some(at) => &line[..at],
            None => line,
        })
        .collect::<Vec<_>>()
        .join("\n")
}

fn module_graph(krate: &str) -> Graph {
    let src = src_dir(krate);
    let modules = top_level_modules(&src);
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    let mut graph = Graph::new();
    for file in files {
        let relative = file.strip_prefix(&src).expect("under src");
        let top = relative
            .components()
            .next()
            .and_then(|c| Path::new(c.as_os_str()).file_stem())
            .and_then(|s| s.to_str())
            .expect("file name")
            .to_owned();
        if !modules.contains(&top) {
            continue; // lib.rs, main.rs: the crate roots wire everything together
        }
        let text = std::fs::read_to_string(&file).expect("read source");
        for target in crate_paths(&without_comments(&text)) {
            if target != top && modules.contains(&target) {
                graph
                    .entry(top.clone())
                    .or_default()
                    .entry(target)
                    .or_default()
                    .insert(relative.display().to_string());
            }
        }
    }
    for module in modules {
        graph.entry(module).or_default();
    }
    graph
}

/// A cycle in `graph` without the `skipped` edges, as the modules along it.
fn find_cycle(graph: &Graph, skipped: &BTreeSet<(String, String)>) -> Option<Vec<String>> {
    #[derive(Clone, Copy, PartialEq)]
    enum Mark {
        Open,
        Done,
    }
    fn visit(
        node: &str,
        graph: &Graph,
        skipped: &BTreeSet<(String, String)>,
        marks: &mut BTreeMap<String, Mark>,
        path: &mut Vec<String>,
    ) -> Option<Vec<String>> {
        match marks.get(node) {
            Some(Mark::Done) => return None,
            Some(Mark::Open) => {
                let from = path.iter().position(|n| n == node).expect("on the path");
                let mut cycle = path[from..].to_vec();
                cycle.push(node.to_owned());
                return Some(cycle);
            }
            None => {}
        }
        marks.insert(node.to_owned(), Mark::Open);
        path.push(node.to_owned());
        for next in graph
            .get(node)
            .into_iter()
            .flat_map(|targets| targets.keys())
        {
            if skipped.contains(&(node.to_owned(), next.clone())) {
                continue;
            }
            if let Some(cycle) = visit(next, graph, skipped, marks, path) {
                return Some(cycle);
            }
        }
        path.pop();
        marks.insert(node.to_owned(), Mark::Done);
        None
    }
    let mut marks = BTreeMap::new();
    graph
        .keys()
        .find_map(|node| visit(node, graph, skipped, &mut marks, &mut Vec::new()))
}

/// The graph as lines, lowest modules first: each module with the modules it imports.
fn render(graph: &Graph, skipped: &BTreeSet<(String, String)>) -> String {
    let mut placed: Vec<String> = Vec::new();
    let mut lines = Vec::new();
    while placed.len() < graph.len() {
        let layer: Vec<&String> = graph
            .iter()
            .filter(|(node, _)| !placed.contains(node))
            .filter(|(node, targets)| {
                targets
                    .keys()
                    .all(|t| placed.contains(t) || skipped.contains(&((*node).clone(), t.clone())))
            })
            .map(|(node, _)| node)
            .collect();
        if layer.is_empty() {
            lines.push("(a cycle: the rest cannot be layered)".to_owned());
            break;
        }
        for node in &layer {
            let targets: Vec<String> = graph[*node]
                .keys()
                .map(|t| {
                    if skipped.contains(&((*node).clone(), t.clone())) {
                        format!("{t} (wrong way)")
                    } else {
                        t.clone()
                    }
                })
                .collect();
            lines.push(format!("  {node} → {}", targets.join(", ")));
        }
        placed.extend(layer.into_iter().cloned());
    }
    lines.join("\n")
}

#[test]
fn crate_paths_are_read_from_uses_groups_and_expressions() {
    let code = "use crate::store::{Store, TenantId};\n\
                use crate::{desk::{self, Actor}, sla};\n\
                let x = crate::rules::metrics::OFFLINE_SECONDS;\n\
                use atalaya_crate::x;";
    assert_eq!(crate_paths(code), ["store", "desk", "sla", "rules"]);
    assert_eq!(
        without_comments("a // crate::x\n//! [`crate::y`]\nb"),
        "a \n\nb"
    );
}

#[test]
fn a_cycle_is_found_and_named() {
    let mut graph = Graph::new();
    for (from, to) in [("a", "b"), ("b", "c"), ("c", "a"), ("c", "d")] {
        graph
            .entry(from.into())
            .or_default()
            .entry(to.into())
            .or_default();
        graph.entry(to.into()).or_default();
    }
    let cycle = find_cycle(&graph, &BTreeSet::new()).expect("a cycle");
    assert_eq!(cycle, ["a", "b", "c", "a"]);
    let skipped = BTreeSet::from([("c".to_owned(), "a".to_owned())]);
    assert_eq!(find_cycle(&graph, &skipped), None);
}

#[test]
fn server_modules_depend_one_way() {
    let graph = module_graph("server");
    let wrong_way: BTreeSet<(String, String)> = WRONG_WAY
        .iter()
        .map(|(from, to, _)| (from.to_string(), to.to_string()))
        .collect();
    println!(
        "server modules, lowest first (each → what it imports):\n{}",
        render(&graph, &wrong_way)
    );

    let mut problems = Vec::new();
    for (from, to) in &wrong_way {
        if !graph.get(from).is_some_and(|t| t.contains_key(to)) {
            problems.push(format!(
                "{from} → {to} is gone: take it off WRONG_WAY in {}",
                file!()
            ));
        }
    }
    for (module, _) in VOCABULARY {
        for (to, files) in &graph[*module] {
            problems.push(format!(
                "{module} is vocabulary and imports nothing, but imports {to} ({})",
                files.iter().cloned().collect::<Vec<_>>().join(", ")
            ));
        }
    }
    let vocabulary = |m: &str| VOCABULARY.iter().any(|(v, _)| *v == m);
    for (to, files) in &graph["store"] {
        if !vocabulary(to) && !wrong_way.contains(&("store".to_owned(), to.clone())) {
            problems.push(format!(
                "the store imports {to} ({}): the store is the bottom layer and imports no \
                 other module; move the logic up into {to}, or the plain type down",
                files.iter().cloned().collect::<Vec<_>>().join(", ")
            ));
        }
    }
    if let Some(cycle) = find_cycle(&graph, &wrong_way) {
        let edges: Vec<String> = cycle
            .windows(2)
            .map(|w| {
                let files = &graph[&w[0]][&w[1]];
                format!(
                    "{} → {} ({})",
                    w[0],
                    w[1],
                    files.iter().cloned().collect::<Vec<_>>().join(", ")
                )
            })
            .collect();
        problems.push(format!("an import cycle: {}", edges.join("; ")));
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
fn agent_modules_depend_one_way() {
    let graph = module_graph("agent");
    println!(
        "agent modules, lowest first (each → what it imports):\n{}",
        render(&graph, &BTreeSet::new())
    );
    assert!(
        graph["collect"].contains_key("inventory"),
        "the graph is read"
    );
    if let Some(cycle) = find_cycle(&graph, &BTreeSet::new()) {
        panic!(
            "an import cycle among the agent's modules: {}",
            cycle.join(" → ")
        );
    }
}
