//! The crates' files import each other without circles (a circle means no
//! layer can be understood or changed on its own): a file that names a
//! module path (`crate::a::b`, `super::x`, `self::y`) depends on the file
//! that path resolves to; test modules (`#[cfg(test)]`, at the bottom of
//! each file) may reach anywhere and are left out. And comments say why
//! rather than point at a tracker number, and name only paths that exist.

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

/// The language of a scanned file: where its comments are.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Lang {
    Rust,
    TypeScript,
    Shell,
}

/// Every comment in `text` as `(line, text)`, one entry per line of a block
/// comment. String literals are skipped, so a URL or a `#` inside a string is
/// no comment.
fn comments(text: &str, lang: Lang) -> Vec<(usize, String)> {
    match lang {
        Lang::Shell => shell_comments(text),
        Lang::Rust | Lang::TypeScript => c_like_comments(text, lang == Lang::Rust),
    }
}

fn c_like_comments(text: &str, rust: bool) -> Vec<(usize, String)> {
    let chars: Vec<char> = text.chars().collect();
    let at = |i: usize| chars.get(i).copied();
    let is_ident = |c: Option<char>| c.is_some_and(|c| c.is_alphanumeric() || c == '_');
    let mut out = Vec::new();
    let mut line = 1;
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        let next = at(i + 1);
        if c == '\n' {
            line += 1;
            i += 1;
        } else if c == '/' && next == Some('/') {
            let start = i + 2;
            let end = (start..chars.len())
                .find(|&j| chars[j] == '\n')
                .unwrap_or(chars.len());
            out.push((line, chars[start..end].iter().collect()));
            i = end;
        } else if c == '/' && next == Some('*') {
            let mut depth = 1;
            let mut current = String::new();
            i += 2;
            while i < chars.len() && depth > 0 {
                if chars[i] == '*' && at(i + 1) == Some('/') {
                    depth -= 1;
                    i += 2;
                } else if rust && chars[i] == '/' && at(i + 1) == Some('*') {
                    depth += 1;
                    i += 2;
                } else if chars[i] == '\n' {
                    out.push((line, std::mem::take(&mut current)));
                    line += 1;
                    i += 1;
                } else {
                    current.push(chars[i]);
                    i += 1;
                }
            }
            out.push((line, current));
        } else if rust
            && c == 'r'
            && matches!(next, Some('"' | '#'))
            && (!is_ident(i.checked_sub(1).and_then(at))
                || (at(i - 1) == Some('b') && !is_ident(i.checked_sub(2).and_then(at))))
        {
            // A raw string r#"..."#: no escapes, ends at a quote and as many #.
            let hashes = (i + 1..chars.len())
                .take_while(|&j| chars[j] == '#')
                .count();
            let open = i + 1 + hashes;
            if at(open) != Some('"') {
                i += 1;
                continue;
            }
            let closing = format!("\"{}", "#".repeat(hashes));
            let rest: String = chars[open + 1..].iter().collect();
            let len = rest
                .find(&closing)
                .map_or(rest.len(), |n| n + closing.len());
            let skipped = &rest[..len];
            line += skipped.matches('\n').count();
            i = open + 1 + skipped.chars().count();
        } else if c == '"' || (!rust && (c == '\'' || c == '`')) {
            i += 1;
            while i < chars.len() && chars[i] != c {
                if chars[i] == '\\' {
                    i += 1;
                }
                if at(i) == Some('\n') {
                    line += 1;
                }
                i += 1;
            }
            i += 1;
        } else if rust && c == '\'' {
            // A char literal ('x', '\n', '"'); otherwise a lifetime.
            if next == Some('\\') {
                i += 2;
                while i < chars.len() && chars[i] != '\'' {
                    i += 1;
                }
                i += 1;
            } else if at(i + 2) == Some('\'') {
                i += 3;
            } else {
                i += 1;
            }
        } else {
            i += 1;
        }
    }
    out
}

fn shell_comments(text: &str) -> Vec<(usize, String)> {
    let mut out = Vec::new();
    let mut quote: Option<char> = None;
    for (n, line) in text.lines().enumerate() {
        let chars: Vec<char> = line.chars().collect();
        let mut i = 0;
        while i < chars.len() {
            let c = chars[i];
            match quote {
                Some(q) if c == q => quote = None,
                Some('"') if c == '\\' => i += 1,
                Some(_) => {}
                None if c == '\\' => i += 1,
                None if c == '\'' || c == '"' => quote = Some(c),
                None if c == '#'
                    && (i == 0 || chars[i - 1].is_whitespace() || chars[i - 1] == ';') =>
                {
                    out.push((n + 1, chars[i + 1..].iter().collect()));
                    break;
                }
                None => {}
            }
            i += 1;
        }
    }
    out
}

/// What is wrong with one comment: a tracker number (the comment should give
/// the reason itself) or a repository path that does not exist.
fn stale_references(comment: &str, root: &Path) -> Vec<String> {
    let mut found = Vec::new();
    let chars: Vec<char> = comment.chars().collect();
    let lower: Vec<char> = chars.iter().map(char::to_ascii_lowercase).collect();
    let word_char = |c: Option<&char>| c.is_some_and(|c| c.is_alphanumeric() || *c == '_');
    let digits_at = |from: usize| {
        (from..chars.len())
            .take_while(|&j| chars[j].is_ascii_digit())
            .count()
    };
    for i in 0..chars.len() {
        // The word issue (or issues), spaces, an optional hash, digits.
        if lower[i..].starts_with(&['i', 's', 's', 'u', 'e'])
            && (i == 0 || !word_char(lower.get(i - 1)))
        {
            let mut j = i + 5;
            if lower.get(j) == Some(&'s') {
                j += 1;
            }
            let spaces = (j..chars.len()).take_while(|&k| chars[k] == ' ').count();
            if spaces > 0 {
                j += spaces;
                if chars.get(j) == Some(&'#') {
                    j += 1;
                }
                let n = digits_at(j);
                if n > 0 && !word_char(chars.get(j + n)) {
                    found.push(format!(
                        "issue number {:?}",
                        chars[i..j + n].iter().collect::<String>()
                    ));
                }
            }
        }
        // A hash and digits on their own, as trackers number issues.
        if chars[i] == '#' && (i == 0 || (!word_char(chars.get(i - 1)) && chars[i - 1] != '&')) {
            let n = digits_at(i + 1);
            if n > 0 && !word_char(chars.get(i + 1 + n)) {
                let reference: String = chars[i..i + 1 + n].iter().collect();
                if !found.iter().any(|f| f.contains(&reference)) {
                    found.push(format!("issue number {reference:?}"));
                }
            }
        }
    }
    // Paths from the repository root.
    let path_char = |c: char| c.is_alphanumeric() || matches!(c, '_' | '.' | '/' | '-');
    const ROOTS: [&str; 9] = [
        "crates/",
        "src-tauri/",
        "tests/",
        "ui/src/",
        "scripts/",
        "docs/",
        ".ci/",
        ".config/",
        "migrations/",
    ];
    for i in 0..chars.len() {
        if i > 0 && path_char(chars[i - 1]) {
            continue;
        }
        let rest: String = chars[i..].iter().collect();
        if !ROOTS.iter().any(|r| rest.starts_with(r)) {
            continue;
        }
        let len = rest.find(|c: char| !path_char(c)).unwrap_or(rest.len());
        let path = rest[..len].trim_end_matches('.');
        if !root.join(path).exists() {
            found.push(format!("no such path {path:?}"));
        }
    }
    found
}

/// Files whose comments are checked, with their language. Applied SQL
/// migrations are left out: editing one changes its sqlx checksum.
fn commented_files(root: &Path) -> Vec<(PathBuf, Lang)> {
    fn walk(dir: &Path, shell_dir: bool, out: &mut Vec<(PathBuf, Lang)>) {
        let Ok(entries) = std::fs::read_dir(dir) else {
            return;
        };
        for entry in entries {
            let path = entry.unwrap().path();
            let name = path.file_name().unwrap().to_string_lossy().into_owned();
            if path.is_dir() {
                if !matches!(
                    name.as_str(),
                    "target" | "node_modules" | "migrations" | "dist" | ".git"
                ) {
                    walk(&path, shell_dir, out);
                }
                continue;
            }
            let lang = match path.extension().and_then(|e| e.to_str()) {
                Some("rs") => Some(Lang::Rust),
                Some("ts" | "tsx") => Some(Lang::TypeScript),
                Some("sh") => Some(Lang::Shell),
                None if shell_dir => Some(Lang::Shell),
                _ => None,
            };
            if let Some(lang) = lang {
                out.push((path, lang));
            }
        }
    }
    let mut out = Vec::new();
    for dir in ["crates", "src-tauri/src", "tests", "ui/src"] {
        walk(&root.join(dir), false, &mut out);
    }
    for dir in ["scripts", ".ci"] {
        walk(&root.join(dir), true, &mut out);
    }
    out.sort_by(|a, b| a.0.cmp(&b.0));
    out
}

/// `file:line: what` for every stale reference in one file's comments.
fn stale_comments(root: &Path, file: &Path, text: &str, lang: Lang) -> Vec<String> {
    let shown = file
        .strip_prefix(root)
        .unwrap_or(file)
        .display()
        .to_string();
    comments(text, lang)
        .into_iter()
        .flat_map(|(line, comment)| {
            stale_references(&comment, root)
                .into_iter()
                .map(|what| format!("{shown}:{line}: {what}"))
                .collect::<Vec<_>>()
        })
        .collect()
}

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

#[test]
fn the_comment_scanner_reports_issue_numbers_and_missing_paths() {
    let root = repo_root();
    let rust = "let url = \"http://x/issue 3\"; // see crates/nope/src/x.rs\n\
                /* fixed in\n   issue 12 */ let c = '\"'; // crates/cloud/src/lib.rs\n\
                let s = r#\"// issue 9\"#; // (#7)\n";
    assert_eq!(
        stale_comments(&root, &root.join("x.rs"), rust, Lang::Rust),
        vec![
            "x.rs:1: no such path \"crates/nope/src/x.rs\"".to_string(),
            "x.rs:3: issue number \"issue 12\"".to_string(),
            "x.rs:4: issue number \"#7\"".to_string(),
        ],
        "strings are no comments; a path that exists is fine"
    );
    let ts = "const a = 'see issue 2'; // Issue #4 and ui/src/nope.ts\n";
    assert_eq!(
        stale_comments(&root, &root.join("x.ts"), ts, Lang::TypeScript),
        vec![
            "x.ts:1: issue number \"Issue #4\"".to_string(),
            "x.ts:1: no such path \"ui/src/nope.ts\"".to_string(),
        ]
    );
    let shell = "#!/usr/bin/env bash\necho \"# issue 1\" ${#a[@]} # issues 5, scripts/lib.sh\n";
    assert_eq!(
        stale_comments(&root, &root.join("x"), shell, Lang::Shell),
        vec!["x:2: issue number \"issues 5\"".to_string()]
    );
}

#[test]
fn comments_name_only_files_that_exist_and_no_issue_numbers() {
    let root = repo_root();
    let files = commented_files(&root);
    assert!(
        files.len() > 100,
        "the scan must see the repository's sources, found {} files",
        files.len()
    );
    let found: Vec<String> = files
        .iter()
        .flat_map(|(file, lang)| {
            let text = std::fs::read_to_string(file).unwrap();
            stale_comments(&root, file, &text, *lang)
        })
        .collect();
    assert!(
        found.is_empty(),
        "comments must give the reason, not an issue number, and name only paths that exist \
         (from the repository root):\n{}",
        found.join("\n")
    );
}
