//! The crates' files import each other without circles (issue 11): a file
//! that names a module path (`crate::a::b`, `super::x`, `self::y`) depends
//! on the file that path resolves to; test modules (`#[cfg(test)]`, at the
//! bottom of each file) may reach anywhere and are left out.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

type Module = Vec<String>;

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

fn module_of(root: &Path, file: &Path) -> (Module, bool) {
    let rel = file.strip_prefix(root).unwrap().with_extension("");
    let mut parts: Module = rel
        .components()
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .collect();
    let owns_dir = matches!(
        parts.last().map(String::as_str),
        Some("mod" | "lib" | "main")
    );
    if owns_dir {
        parts.pop();
    }
    (parts, owns_dir)
}

/// Every `crate::`/`super::`/`self::` path in `code`, braces expanded one level.
fn paths_named(code: &str) -> Vec<(String, Vec<String>)> {
    let mut found = Vec::new();
    let bytes: Vec<char> = code.chars().collect();
    let text: String = bytes.iter().collect();
    for head in ["crate", "super", "self"] {
        let pattern = format!("{head}::");
        let mut from = 0;
        while let Some(at) = text[from..].find(&pattern) {
            let start = from + at;
            from = start + pattern.len();
            let before = text[..start].chars().last();
            if before.is_some_and(|c| c.is_alphanumeric() || c == '_') {
                continue;
            }
            let rest = &text[from..];
            let mut prefix = Vec::new();
            let mut cursor = rest;
            loop {
                if let Some(group) = cursor.strip_prefix('{') {
                    let end = group.find('}').unwrap_or(group.len());
                    for item in group[..end].split(',') {
                        let item = item.split_whitespace().next().unwrap_or("");
                        let mut path = prefix.clone();
                        path.extend(item.split("::").filter(|s| !s.is_empty()).map(String::from));
                        found.push((head.to_string(), path));
                    }
                    break;
                }
                let len = cursor
                    .find(|c: char| !(c.is_alphanumeric() || c == '_'))
                    .unwrap_or(cursor.len());
                if len == 0 {
                    found.push((head.to_string(), prefix.clone()));
                    break;
                }
                prefix.push(cursor[..len].to_string());
                cursor = &cursor[len..];
                match cursor.strip_prefix("::") {
                    Some(next) => cursor = next,
                    None => {
                        found.push((head.to_string(), prefix.clone()));
                        break;
                    }
                }
            }
        }
    }
    found
}

/// File-level import graph of one crate's `src/`.
fn import_graph(root: &Path) -> BTreeMap<Module, BTreeSet<Module>> {
    let mut files = Vec::new();
    rust_files(root, &mut files);
    let modules: BTreeMap<Module, (PathBuf, bool)> = files
        .iter()
        .map(|f| {
            let (module, owns_dir) = module_of(root, f);
            (module, (f.clone(), owns_dir))
        })
        .collect();
    let resolve = |parts: &[String]| -> Option<Module> {
        (0..=parts.len())
            .rev()
            .map(|n| parts[..n].to_vec())
            .find(|m| modules.contains_key(m))
    };
    let mut graph = BTreeMap::new();
    for (module, (file, owns_dir)) in &modules {
        let code = std::fs::read_to_string(file).unwrap();
        let code = code.split("#[cfg(test)]").next().unwrap_or("");
        let code: String = code
            .lines()
            .map(|l| l.split("//").next().unwrap_or(""))
            .collect::<Vec<_>>()
            .join("\n");
        let parent = if *owns_dir {
            module.clone()
        } else {
            module[..module.len().saturating_sub(1)].to_vec()
        };
        let mut targets = BTreeSet::new();
        for (head, parts) in paths_named(&code) {
            let mut base = match head.as_str() {
                "crate" => Vec::new(),
                "self" => parent.clone(),
                _ => parent[..parent.len().saturating_sub(1)].to_vec(),
            };
            base.extend(parts);
            if let Some(target) = resolve(&base).filter(|t| t != module) {
                targets.insert(target);
            }
        }
        graph.insert(module.clone(), targets);
    }
    graph
}

/// Groups of files that reach each other (Tarjan's strongly connected components).
fn circles(graph: &BTreeMap<Module, BTreeSet<Module>>) -> Vec<Vec<String>> {
    struct Walk<'a> {
        graph: &'a BTreeMap<Module, BTreeSet<Module>>,
        index: BTreeMap<&'a Module, usize>,
        low: BTreeMap<&'a Module, usize>,
        stack: Vec<&'a Module>,
        found: Vec<Vec<String>>,
    }
    impl<'a> Walk<'a> {
        fn visit(&mut self, v: &'a Module) {
            let n = self.index.len();
            self.index.insert(v, n);
            self.low.insert(v, n);
            self.stack.push(v);
            for w in &self.graph[v] {
                if !self.index.contains_key(w) {
                    self.visit(w);
                    let low = self.low[v].min(self.low[w]);
                    self.low.insert(v, low);
                } else if self.stack.contains(&w) {
                    let low = self.low[v].min(self.index[w]);
                    self.low.insert(v, low);
                }
            }
            if self.low[v] == self.index[v] {
                let mut group = Vec::new();
                while let Some(w) = self.stack.pop() {
                    group.push(if w.is_empty() {
                        "(crate root)".into()
                    } else {
                        w.join("::")
                    });
                    if w == v {
                        break;
                    }
                }
                if group.len() > 1 {
                    group.sort();
                    self.found.push(group);
                }
            }
        }
    }
    let mut walk = Walk {
        graph,
        index: BTreeMap::new(),
        low: BTreeMap::new(),
        stack: Vec::new(),
        found: Vec::new(),
    };
    for v in graph.keys() {
        if !walk.index.contains_key(v) {
            walk.visit(v);
        }
    }
    walk.found
}

fn crate_src(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../crates")
        .join(name)
        .join("src")
}

#[test]
fn the_checker_finds_a_circle_between_two_files() {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path();
    std::fs::write(src.join("lib.rs"), "mod a;\nmod b;\n").unwrap();
    std::fs::write(src.join("a.rs"), "use crate::b::thing;\n").unwrap();
    std::fs::create_dir(src.join("b")).unwrap();
    std::fs::write(src.join("b/mod.rs"), "use super::a::{x, y};\n").unwrap();
    assert_eq!(
        circles(&import_graph(src)),
        vec![vec!["a".to_string(), "b".to_string()]],
        "a and b name each other: the checker must report them"
    );
    std::fs::write(
        src.join("b/mod.rs"),
        "#[cfg(test)]\nmod tests { use super::super::a; }\n",
    )
    .unwrap();
    assert!(
        circles(&import_graph(src)).is_empty(),
        "a test module may reach anywhere"
    );
}

#[test]
fn the_cloud_has_no_import_circle_between_its_files() {
    let found = circles(&import_graph(&crate_src("cloud")));
    assert!(
        found.is_empty(),
        "http -> service -> db must not loop back: {found:?}"
    );
}

#[test]
fn the_cloud_runs_sql_only_in_its_db_module() {
    let root = crate_src("cloud");
    let mut files = Vec::new();
    rust_files(&root, &mut files);
    let outside: Vec<String> = files
        .iter()
        .filter(|f| !f.strip_prefix(&root).unwrap().starts_with("db"))
        .filter(|f| {
            let code = std::fs::read_to_string(f).unwrap();
            let code = code.split("#[cfg(test)]").next().unwrap_or("").to_string();
            code.contains("sqlx::query")
        })
        .map(|f| f.display().to_string())
        .collect();
    assert!(
        outside.is_empty(),
        "every SQL statement belongs in crates/cloud/src/db: {outside:?}"
    );
}

#[test]
fn the_core_has_no_import_circle_between_its_files() {
    let found = circles(&import_graph(&crate_src("core")));
    assert!(
        found.is_empty(),
        "app -> {{session, edits, sync}} -> context must not loop back: {found:?}"
    );
}
