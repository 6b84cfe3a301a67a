//! The import graph between the files of src/, read from the source text: every `crate::`,
//! `super::` and `self::` path (in `use` statements, braces expanded, and in code), every path
//! through a child module, each resolved to the file that defines the item (through the
//! `pub use` re-exports of the module it names, which are a facade, not a dependency). A cycle
//! between files is a design fault (one of them cannot be understood, tested or moved without
//! the others): the trial fails naming every cycle with the lines that close it.
use crate::common::{ensure, root, rust_files, TestResult};
use libtest_mimic::Trial;
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

pub fn trials() -> Vec<Trial> {
    vec![
        Trial::test("architecture::no_import_cycle_between_files", no_cycle),
        Trial::test(
            "architecture::the_import_graph_sees_relative_paths",
            sees_relative_paths,
        ),
        Trial::test("architecture::no_unit_test_hides_in_src", no_unit_test),
        Trial::test(
            "architecture::a_long_function_says_why_in_its_doc",
            long_functions,
        ),
        Trial::test(
            "architecture::no_line_of_src_over_100_characters",
            wide_lines,
        ),
    ]
}

/// A module path from the crate root (`["check", "outcome"]`).
type Module = Vec<String>;

/// One file of src/: its module, its text without comments, its child modules.
struct Source {
    file: String,
    module: Module,
    text: String,
}

/// The files of src/ (the library: main.rs is the binary's one call).
fn sources(dir: &Path) -> Vec<Source> {
    rust_files(dir)
        .into_iter()
        .filter(|p| !p.ends_with("main.rs"))
        .map(|path| {
            let rel = path.strip_prefix(dir).expect("under src").to_path_buf();
            let mut module: Module = rel
                .with_extension("")
                .iter()
                .map(|s| s.to_string_lossy().into_owned())
                .collect();
            if module.last().is_some_and(|m| m == "mod" || m == "lib") {
                module.pop();
            }
            let text = std::fs::read_to_string(&path).expect("a source file");
            Source {
                file: format!("src/{}", rel.display()),
                module,
                text: without_comments(&text),
            }
        })
        .collect()
}

/// The text with `//` comments (doc comments too) blanked, lines kept; string literals that hold
/// `//` (URLs) lose their tail, which holds no path.
fn without_comments(text: &str) -> String {
    text.lines()
        .map(|line| match line.find("//") {
            Some(at) => &line[..at],
            None => line,
        })
        .collect::<Vec<_>>()
        .join("\n")
}

fn is_ident(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_'
}

/// The paths of a `use` tree starting at `at` (after its first `::`): `a::b::{c, d::{e, f}}`
/// gives a::b::c, a::b::d::e, a::b::d::f; `self` inside braces is the prefix; `as x` is kept
/// as the alias (the last element of the pair).
fn use_tree(text: &str, at: usize, prefix: &[String], out: &mut Vec<(Vec<String>, String)>) {
    let rest = &text[at..];
    let mut path = prefix.to_vec();
    let mut i = 0;
    let bytes: Vec<char> = rest.chars().collect();
    loop {
        while i < bytes.len() && bytes[i].is_whitespace() {
            i += 1;
        }
        if i < bytes.len() && bytes[i] == '{' {
            // A group: split on commas at depth 1.
            let mut depth = 0;
            let mut start = i + 1;
            let mut j = i;
            while j < bytes.len() {
                match bytes[j] {
                    '{' => depth += 1,
                    '}' => {
                        depth -= 1;
                        if depth == 0 {
                            let item: String = bytes[start..j].iter().collect();
                            group_item(&item, &path, out);
                            return;
                        }
                    }
                    ',' if depth == 1 => {
                        let item: String = bytes[start..j].iter().collect();
                        group_item(&item, &path, out);
                        start = j + 1;
                    }
                    _ => {}
                }
                j += 1;
            }
            return;
        }
        let ident: String = bytes[i..].iter().take_while(|c| is_ident(**c)).collect();
        if ident.is_empty() {
            // `*` or the end of a path in code.
            if !path.is_empty() {
                let last = path.last().cloned().unwrap_or_default();
                out.push((path, last));
            }
            return;
        }
        i += ident.len();
        path.push(ident);
        let next: String = bytes[i..].iter().take(2).collect();
        if next == "::" {
            i += 2;
            continue;
        }
        let tail: String = bytes[i..].iter().take(40).collect();
        let alias = tail.trim_start().strip_prefix("as ").map(|t| {
            t.trim_start()
                .chars()
                .take_while(|c| is_ident(*c))
                .collect()
        });
        let last = path.last().cloned().unwrap_or_default();
        out.push((path, alias.unwrap_or(last)));
        return;
    }
}

fn group_item(item: &str, prefix: &[String], out: &mut Vec<(Vec<String>, String)>) {
    let item = item.trim();
    if item.is_empty() {
        return;
    }
    if item == "self" || item.starts_with("self ") {
        let alias = item
            .strip_prefix("self as ")
            .map(|a| a.trim().to_string())
            .unwrap_or_else(|| prefix.last().cloned().unwrap_or_default());
        out.push((prefix.to_vec(), alias));
        return;
    }
    use_tree(item, 0, prefix, out);
}

/// A path as written (its first segment `crate`, `super`, `self` or a child module) made
/// absolute from the module `from`.
fn absolute(path: &[String], from: &Module) -> Option<Module> {
    let mut base: Module = from.clone();
    let mut segs = path;
    match segs.first().map(String::as_str) {
        Some("crate") => {
            base.clear();
            segs = &segs[1..];
        }
        Some("self") => segs = &segs[1..],
        Some("super") => {
            while segs.first().is_some_and(|s| s == "super") {
                base.pop()?;
                segs = &segs[1..];
            }
        }
        _ => {}
    }
    base.extend(segs.iter().cloned());
    Some(base)
}

/// Every path in `source` with where it starts: (line, path as written, alias, in a `pub use`).
fn paths(source: &Source, children: &BTreeSet<String>) -> Vec<(usize, Vec<String>, String, bool)> {
    let text = &source.text;
    let mut found = Vec::new();
    let chars: Vec<(usize, char)> = text.char_indices().collect();
    let mut k = 0;
    while k < chars.len() {
        let (at, c) = chars[k];
        let before = text[..at].chars().last();
        let starts = is_ident(c)
            && !before.is_some_and(|b| is_ident(b) || b == ':' || b == '\'' || b == '"');
        if !starts {
            k += 1;
            continue;
        }
        let word: String = text[at..].chars().take_while(|c| is_ident(*c)).collect();
        let after = &text[at + word.len()..];
        let head = matches!(word.as_str(), "crate" | "super" | "self") || children.contains(&word);
        if head && after.starts_with("::") {
            let line = text[..at].matches('\n').count() + 1;
            let stmt_start = text[..at].rfind([';', '{', '}']).map_or(0, |i| i + 1);
            let stmt = text[stmt_start..at].trim();
            let is_use = stmt.ends_with("use") || stmt.ends_with("use ::");
            let public =
                is_use && (stmt.starts_with("pub use") || stmt.starts_with("pub(crate) use"));
            let mut out = Vec::new();
            use_tree(text, at, &[], &mut out);
            for (path, alias) in out {
                found.push((line, path, alias, public));
            }
            k += word.chars().count();
            continue;
        }
        k += word.chars().count().max(1);
    }
    found
}

/// The file that defines the item `path` names, following re-exports.
fn resolve(
    path: &Module,
    files: &BTreeMap<Module, usize>,
    exports: &BTreeMap<(Module, String), Module>,
    depth: usize,
) -> Option<usize> {
    let k = (0..=path.len())
        .rev()
        .find(|&k| files.contains_key(&path[..k].to_vec()))?;
    let module = path[..k].to_vec();
    if k < path.len() && depth < 8 {
        if let Some(target) = exports.get(&(module.clone(), path[k].clone())) {
            let mut next = target.clone();
            next.extend(path[k + 1..].iter().cloned());
            if &next != path {
                if let Some(file) = resolve(&next, files, exports, depth + 1) {
                    return Some(file);
                }
            }
        }
    }
    files.get(&module).copied()
}

/// The graph: for each file, the files it imports, with the first line that does.
fn graph(dir: &Path) -> (Vec<Source>, Vec<BTreeMap<usize, usize>>) {
    let sources = sources(dir);
    let files: BTreeMap<Module, usize> = sources
        .iter()
        .enumerate()
        .map(|(i, s)| (s.module.clone(), i))
        .collect();
    let children = |m: &Module| -> BTreeSet<String> {
        files
            .keys()
            .filter(|k| k.len() == m.len() + 1 && k.starts_with(m))
            .map(|k| k.last().cloned().unwrap_or_default())
            .collect()
    };
    let root_file = |s: &Source| s.file.ends_with("mod.rs") || s.file.ends_with("lib.rs");
    let all: Vec<Vec<(usize, Module, String, bool)>> = sources
        .iter()
        .map(|s| {
            // Relative paths through child modules resolve from a module root (mod.rs, lib.rs);
            // a leaf file's bare `x::` is an external crate or a local item.
            let kids = match root_file(s) {
                true => children(&s.module),
                false => BTreeSet::new(),
            };
            paths(s, &kids)
                .into_iter()
                .filter_map(|(line, p, alias, public)| {
                    Some((line, absolute(&p, &s.module)?, alias, public))
                })
                .collect()
        })
        .collect();
    let mut exports: BTreeMap<(Module, String), Module> = BTreeMap::new();
    for (s, found) in sources.iter().zip(&all) {
        for (_, path, alias, public) in found {
            if *public {
                exports.insert((s.module.clone(), alias.clone()), path.clone());
            }
        }
    }
    let mut edges = vec![BTreeMap::new(); sources.len()];
    for (i, found) in all.iter().enumerate() {
        for (line, path, _, public) in found {
            if *public {
                continue;
            }
            if let Some(j) = resolve(path, &files, &exports, 0) {
                if j != i {
                    edges[i].entry(j).or_insert(*line);
                }
            }
        }
    }
    (sources, edges)
}

/// The strongly connected components of more than one file (Tarjan's algorithm).
fn cycles(edges: &[BTreeMap<usize, usize>]) -> Vec<Vec<usize>> {
    struct State<'a> {
        edges: &'a [BTreeMap<usize, usize>],
        index: Vec<Option<usize>>,
        low: Vec<usize>,
        stack: Vec<usize>,
        on: Vec<bool>,
        next: usize,
        out: Vec<Vec<usize>>,
    }
    fn visit(s: &mut State, v: usize) {
        s.index[v] = Some(s.next);
        s.low[v] = s.next;
        s.next += 1;
        s.stack.push(v);
        s.on[v] = true;
        let targets: Vec<usize> = s.edges[v].keys().copied().collect();
        for w in targets {
            match s.index[w] {
                None => {
                    visit(s, w);
                    s.low[v] = s.low[v].min(s.low[w]);
                }
                Some(iw) if s.on[w] => s.low[v] = s.low[v].min(iw),
                _ => {}
            }
        }
        if Some(s.low[v]) == s.index[v] {
            let mut component = Vec::new();
            while let Some(w) = s.stack.pop() {
                s.on[w] = false;
                component.push(w);
                if w == v {
                    break;
                }
            }
            if component.len() > 1 {
                component.sort();
                s.out.push(component);
            }
        }
    }
    let n = edges.len();
    let mut s = State {
        edges,
        index: vec![None; n],
        low: vec![0; n],
        stack: Vec::new(),
        on: vec![false; n],
        next: 0,
        out: Vec::new(),
    };
    for v in 0..n {
        if s.index[v].is_none() {
            visit(&mut s, v);
        }
    }
    s.out
}

/// One cycle inside a component, as `a.rs:LINE -> b.rs:LINE -> … -> a.rs`.
fn describe(component: &[usize], sources: &[Source], edges: &[BTreeMap<usize, usize>]) -> String {
    let start = component[0];
    // Breadth-first from start back to start, inside the component.
    let mut previous: BTreeMap<usize, usize> = BTreeMap::new();
    let mut queue = std::collections::VecDeque::from([start]);
    let mut closing = None;
    while let Some(v) = queue.pop_front() {
        for &w in edges[v].keys() {
            if !component.contains(&w) {
                continue;
            }
            if w == start {
                closing = Some(v);
                break;
            }
            if let std::collections::btree_map::Entry::Vacant(e) = previous.entry(w) {
                e.insert(v);
                queue.push_back(w);
            }
        }
        if closing.is_some() {
            break;
        }
    }
    let mut chain = vec![start];
    let mut v = closing.unwrap_or(start);
    let mut back = vec![v];
    while v != start {
        v = previous[&v];
        back.push(v);
    }
    back.reverse();
    chain = if back.len() > 1 { back } else { chain };
    chain.push(start);
    let steps: Vec<String> = chain
        .windows(2)
        .map(|w| format!("{}:{}", sources[w[0]].file, edges[w[0]][&w[1]]))
        .collect();
    format!("{} -> {}", steps.join(" -> "), sources[start].file)
}

fn no_cycle() -> TestResult {
    let (sources, edges) = graph(&root().join("src"));
    if let Some(out) = std::env::var_os("BLINDSPOT_IMPORT_GRAPH") {
        let lines: Vec<String> = edges
            .iter()
            .enumerate()
            .flat_map(|(i, e)| {
                let sources = &sources;
                e.iter().map(move |(j, line)| {
                    format!("{}:{line} {}", sources[i].file, sources[*j].file)
                })
            })
            .collect();
        std::fs::write(out, lines.join("\n"))?;
    }
    let found: Vec<String> = cycles(&edges)
        .iter()
        .map(|c| {
            let files: Vec<&str> = c.iter().map(|&i| sources[i].file.as_str()).collect();
            format!(
                "{} files import each other: {}\n  e.g. {}",
                c.len(),
                files.join(", "),
                describe(c, &sources, &edges)
            )
        })
        .collect();
    ensure(found.is_empty(), || found.join("\n"))
}

/// The reader itself: a planted tree of four files whose cycles run through `super::`, `self::`,
/// a brace group and a re-export is read as exactly those cycles.
fn sees_relative_paths() -> TestResult {
    let dir = crate::common::scratch_root().join("imports-tree");
    let _ = std::fs::remove_dir_all(&dir);
    let put = |name: &str, text: &str| {
        let path = dir.join(name);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
    };
    put("lib.rs", "mod a;\nmod b;\npub use b::Thing;\n");
    put("a/mod.rs", "mod x;\nmod y;\npub use self::y::Why;\n");
    put(
        "a/x.rs",
        "use super::{y::{self, Why}, Other};\n// use crate::b::Nothing;\n",
    );
    put(
        "a/y.rs",
        "pub struct Why;\nfn f() { let _ = super::x::g(); }\n",
    );
    put(
        "b.rs",
        "pub struct Thing;\nfn h() -> crate::a::Why { todo!() }\n",
    );
    let (sources, edges) = graph(&dir);
    let name = |i: usize| sources[i].file.clone();
    let mut found: Vec<Vec<String>> = cycles(&edges)
        .iter()
        .map(|c| c.iter().map(|&i| name(i)).collect())
        .collect();
    found.sort();
    // x ↔ y (a brace group with self, and a super:: path in code); b's `crate::a::Why` resolves
    // through a/mod.rs's re-export to a/y.rs, so no cycle with lib.rs or a/mod.rs; the
    // commented-out path is no edge.
    let expected = vec![vec!["src/a/x.rs".to_string(), "src/a/y.rs".to_string()]];
    ensure(found == expected, || format!("{found:?}"))?;
    let b = sources.iter().position(|s| s.file == "src/b.rs").unwrap();
    let y = sources.iter().position(|s| s.file == "src/a/y.rs").unwrap();
    ensure(edges[b].contains_key(&y), || {
        format!("b.rs's edges: {:?}", edges[b])
    })
}

/// `[lib] test = false`: a `#[test]` in src would never run (the one harness holds the tests).
fn no_unit_test() -> TestResult {
    let files = rust_files(&root().join("src"));
    let found: Vec<String> = files
        .iter()
        .filter(|f| {
            let text = std::fs::read_to_string(f).unwrap_or_default();
            text.contains("#[test]") || text.contains("#[cfg(test)]")
        })
        .map(|f| f.display().to_string())
        .collect();
    ensure(found.is_empty(), || {
        format!("unit tests that never run (move them to tests/): {found:?}")
    })
}

/// The most lines a function of src/ has without a reason: past it, its doc comment holds a
/// `Long:` line saying why it is one function.
const LONG: usize = 100;

/// Every function of src/ longer than [`LONG`] lines (from its `fn` line to the closing brace at
/// its indentation) says why in a `Long:` line of its doc comment.
fn long_functions() -> TestResult {
    let files = rust_files(&root().join("src"));
    let mut found = Vec::new();
    for file in files {
        let text = std::fs::read_to_string(&file)?;
        let lines: Vec<&str> = text.lines().collect();
        for (i, line) in lines.iter().enumerate() {
            let code = line.trim_start();
            let head = [
                "fn ",
                "pub fn ",
                "pub(crate) fn ",
                "unsafe fn ",
                "pub unsafe fn ",
            ];
            if !head.iter().any(|h| code.starts_with(h)) || code.ends_with(';') {
                continue;
            }
            let indent = &line[..line.len() - code.len()];
            let close = format!("{indent}}}");
            let Some(end) = lines[i..].iter().position(|l| *l == close) else {
                continue;
            };
            if end < LONG {
                continue;
            }
            let doc = lines[..i]
                .iter()
                .rev()
                .skip_while(|l| l.trim_start().starts_with("#["))
                .take_while(|l| l.trim_start().starts_with("///"));
            if !doc.into_iter().any(|l| l.contains("Long:")) {
                found.push(format!(
                    "{}:{}: {} lines without a `Long:` reason",
                    file.display(),
                    i + 1,
                    end + 1
                ));
            }
        }
    }
    ensure(found.is_empty(), || found.join("\n"))
}

/// Lines of src/ hold at most 100 characters (rustfmt's width, which it cannot keep for a long
/// string or a comment; a string broken with `\` at a line's end still reads as one line).
fn wide_lines() -> TestResult {
    let mut found = Vec::new();
    for file in rust_files(&root().join("src")) {
        let text = std::fs::read_to_string(&file)?;
        for (i, line) in text.lines().enumerate() {
            let width = line.chars().count();
            if width > 100 {
                found.push(format!("{}:{}: {width} characters", file.display(), i + 1));
            }
        }
    }
    ensure(found.is_empty(), || found.join("\n"))
}
