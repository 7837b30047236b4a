//! Keeps the documentation honest: what README.md and docs/*.md point to,
//! name, quote and draw must exist in the code as they say.
//!
//! - every relative link leads to a file that exists;
//! - every linked code name (`[`Hub::handle_datagram`](../src/hub/mod.rs)`)
//!   is defined in the file it links to;
//! - every code block headed `// src/FILE.rs, NAME` quotes lines that are in
//!   that file;
//! - every `cargo run --bin X` and `--example X` names a program that exists,
//!   and every flag quoted after `reactor-server`, `reactor-client` or
//!   `--example flood --` is one the program accepts.
//!
//! The demo script (docs/demo.sh) is run by .ci/run in its quick mode.
//!
//! The diagrams are held to the code in `tests/diagrams.rs`.

mod common;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;

use common::markdown::{code_blocks, documents, name, root};

/// `[text](target)` links outside code blocks and code spans' backticks
/// count too: `[`Hub`](../src/hub/mod.rs)`.
fn links(text: &str) -> Vec<(String, String)> {
    let mut found = Vec::new();
    let mut in_block = false;
    for line in text.lines() {
        if line.trim_start().starts_with("```") {
            in_block = !in_block;
            continue;
        }
        if in_block {
            continue;
        }
        let mut rest = line;
        while let Some(open) = rest.find("](") {
            let Some(start) = rest[..open].rfind('[') else {
                rest = &rest[open + 2..];
                continue;
            };
            let label = &rest[start + 1..open];
            let after = &rest[open + 2..];
            let Some(close) = after.find(')') else { break };
            found.push((label.to_owned(), after[..close].to_owned()));
            rest = &after[close + 1..];
        }
    }
    found
}

/// Where a relative link leads, without its `#fragment`; `None` for web
/// addresses and anchors within the page.
fn resolve(document: &Path, target: &str) -> Option<PathBuf> {
    if target.contains("://") || target.starts_with('#') || target.starts_with("mailto:") {
        return None;
    }
    let path = target.split('#').next().unwrap_or(target);
    Some(document.parent().expect("a folder").join(path))
}

/// The anchors the forge makes of a page's headings: lower case, spaces to
/// hyphens, other punctuation dropped.
fn anchors(text: &str) -> BTreeSet<String> {
    let mut found = BTreeSet::new();
    let mut in_block = false;
    for line in text.lines() {
        if line.trim_start().starts_with("```") {
            in_block = !in_block;
        }
        let Some(heading) = line.strip_prefix('#').filter(|_| !in_block) else {
            continue;
        };
        let heading = heading.trim_start_matches('#').trim().to_lowercase();
        found.insert(
            heading
                .chars()
                .filter_map(|c| match c {
                    ' ' => Some('-'),
                    c if c.is_alphanumeric() || c == '-' || c == '_' => Some(c),
                    _ => None,
                })
                .collect(),
        );
    }
    found
}

#[test]
fn every_relative_link_leads_to_a_file_and_heading_that_exist() {
    let repository = root().canonicalize().expect("the repository");
    let mut broken = Vec::new();
    for (path, text) in documents() {
        for (label, target) in links(&text) {
            let page = match resolve(&path, &target) {
                Some(file) if !file.exists() => {
                    broken.push(format!("{}: [{label}]({target})", name(&path)));
                    continue;
                }
                // The forge shows the repository alone: a link out of it is broken there.
                Some(file) if !file.canonicalize().unwrap().starts_with(&repository) => {
                    broken.push(format!(
                        "{}: [{label}]({target}) leaves the repository",
                        name(&path)
                    ));
                    continue;
                }
                Some(file) => file,
                None if target.starts_with('#') => path.clone(),
                None => continue,
            };
            // A link to a heading: the heading must be on that page.
            let Some((_, fragment)) = target.split_once('#') else {
                continue;
            };
            if page.extension().is_some_and(|ext| ext == "md") {
                let text = std::fs::read_to_string(&page).expect("a linked page");
                if !anchors(&text).contains(fragment) {
                    broken.push(format!(
                        "{}: [{label}]({target}): no such heading",
                        name(&path)
                    ));
                }
            }
        }
    }
    assert!(
        broken.is_empty(),
        "links to nothing:\n{}",
        broken.join("\n")
    );
}

#[test]
fn the_readme_transcript_is_the_real_one() {
    let readme = std::fs::read_to_string(root().join("README.md")).expect("README.md");
    let transcript =
        std::fs::read_to_string(root().join("docs/transcript.txt")).expect("docs/transcript.txt");
    let mut quoted = 0;
    for (_, lines) in code_blocks(&readme) {
        if lines.first().is_some_and(|l| l.starts_with("* type ID->")) {
            quoted += 1;
            let block = lines.join("\n") + "\n";
            assert!(
                transcript.contains(&block),
                "README.md quotes a terminal that docs/transcript.txt does not have:\n{block}"
            );
        }
    }
    assert_eq!(quoted, 2, "alice's and bob's terminals");
}

/// The Rust source a link leads to: the file, or every file in the folder.
fn source_of(file: &Path) -> Option<String> {
    if file.is_dir() {
        let mut text = String::new();
        for entry in std::fs::read_dir(file).ok()? {
            let path = entry.ok()?.path();
            if path.extension().is_some_and(|ext| ext == "rs") {
                text += &std::fs::read_to_string(path).ok()?;
            }
        }
        return Some(text);
    }
    if file.extension().is_some_and(|ext| ext == "rs") {
        return std::fs::read_to_string(file).ok();
    }
    None
}

fn is_identifier(word: &str) -> bool {
    !word.is_empty()
        && word.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
        && !word.starts_with(|c: char| c.is_ascii_digit())
}

/// Whether `source` defines `item` (a function, type, trait, constant or module).
fn defines(source: &str, item: &str) -> bool {
    let kinds = [
        "fn", "struct", "enum", "trait", "const", "static", "type", "mod",
    ];
    source
        .split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .collect::<Vec<_>>()
        .windows(2)
        .any(|pair| kinds.contains(&pair[0]) && pair[1] == item)
        || source.lines().any(|line| {
            // `impl Trait for Type` and `impl Type` name a type that may be defined elsewhere.
            let line = line.trim_start();
            line.starts_with("impl")
                && line
                    .split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                    .any(|word| word == item)
        })
}

#[test]
fn every_linked_code_name_is_defined_where_it_links() {
    let mut missing = Vec::new();
    let mut checked = 0;
    for (path, text) in documents() {
        for (label, target) in links(&text) {
            let Some(code) = label.strip_prefix('`').and_then(|l| l.strip_suffix('`')) else {
                continue;
            };
            let Some(file) = resolve(&path, &target) else {
                continue;
            };
            // A path shown as code (`src/reactor/`) is a plain link.
            if code.contains('/') || code.contains('.') {
                continue;
            }
            let Some(source) = source_of(&file) else {
                continue;
            };
            let code = code.trim_end_matches("()");
            let segments: Vec<&str> = code.split("::").collect();
            if !segments.iter().all(|segment| is_identifier(segment)) {
                continue;
            }
            checked += 1;
            // Types along the path and the item at its end must all be defined here.
            let absent: Vec<&&str> = segments
                .iter()
                .filter(|segment| {
                    segment.starts_with(char::is_uppercase) || *segment == segments.last().unwrap()
                })
                .filter(|segment| !defines(&source, segment))
                .collect();
            if !absent.is_empty() {
                missing.push(format!(
                    "{}: `{code}` links to {target}, which defines no {absent:?}",
                    name(&path)
                ));
            }
        }
    }
    assert!(checked > 50, "only {checked} linked code names found");
    assert!(missing.is_empty(), "{}", missing.join("\n"));
}

#[test]
fn quoted_code_is_in_the_file_it_names() {
    let mut wrong = Vec::new();
    let mut checked = 0;
    for (path, text) in documents() {
        for (_, lines) in code_blocks(&text) {
            let Some(header) = lines.first().and_then(|l| l.trim().strip_prefix("// src/")) else {
                continue;
            };
            let Some((file, item)) = header.split_once(", ") else {
                continue;
            };
            let source =
                std::fs::read_to_string(root().join("src").join(file)).unwrap_or_else(|_| {
                    panic!("{}: quotes src/{file}, which is not there", name(&path))
                });
            let item = item.rsplit("::").next().unwrap_or(item);
            if !defines(&source, item) {
                wrong.push(format!("{}: src/{file} has no {item}", name(&path)));
            }
            for line in lines
                .iter()
                .skip(1)
                .map(|l| l.trim())
                .filter(|l| !l.is_empty())
            {
                checked += 1;
                if !source.lines().any(|s| s.trim() == line) {
                    wrong.push(format!("{}: src/{file} has no line `{line}`", name(&path)));
                }
            }
        }
    }
    assert!(checked > 0, "no quoted code found");
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

/// Words in inline code and code blocks: where commands are quoted.
fn quoted_code(text: &str) -> Vec<String> {
    let mut quoted = Vec::new();
    let mut in_block = false;
    for line in text.lines() {
        if line.trim_start().starts_with("```") {
            in_block = !in_block;
        } else if in_block {
            quoted.push(line.to_owned());
        } else {
            quoted.extend(line.split('`').skip(1).step_by(2).map(str::to_owned));
        }
    }
    quoted
}

/// The word after `flag` in `line`, each time it appears.
fn values_of<'a>(line: &'a str, flag: &str) -> Vec<&'a str> {
    let words: Vec<&str> = line.split_whitespace().collect();
    words
        .windows(2)
        .filter(|pair| pair[0] == flag)
        .map(|pair| pair[1])
        .collect()
}

#[test]
fn every_program_a_command_names_exists() {
    let mut missing = Vec::new();
    for (path, text) in documents() {
        for line in quoted_code(&text).iter().filter(|l| l.contains("cargo ")) {
            for bin in values_of(line, "--bin") {
                if !root().join(format!("src/bin/{bin}.rs")).exists() {
                    missing.push(format!("{}: --bin {bin}", name(&path)));
                }
            }
            for example in values_of(line, "--example") {
                let file = root().join(format!("examples/{example}.rs"));
                let folder = root().join(format!("examples/{example}/main.rs"));
                if !file.exists() && !folder.exists() {
                    missing.push(format!("{}: --example {example}", name(&path)));
                }
            }
        }
    }
    assert!(
        missing.is_empty(),
        "no such program:\n{}",
        missing.join("\n")
    );
}

fn help(program: &str) -> String {
    let output = Command::new(program)
        .arg("--help")
        .output()
        .expect("run --help");
    assert!(output.status.success());
    String::from_utf8(output.stdout).expect("UTF-8 help")
}

/// `--flags` quoted after `word` in `line`.
fn flags_after<'a>(line: &'a str, word: &str) -> Vec<&'a str> {
    let Some((_, rest)) = line.split_once(word) else {
        return Vec::new();
    };
    rest.split(|c: char| c.is_whitespace() || "[]|`=,;()".contains(c))
        .filter(|w| w.starts_with("--") && w.len() > 2 && !w.starts_with("---"))
        .collect()
}

#[test]
fn every_quoted_flag_is_one_the_program_accepts() {
    let server = help(env!("CARGO_BIN_EXE_reactor-server"));
    let client = help(env!("CARGO_BIN_EXE_reactor-client"));
    // The flood's own flags, and --help and --version from src/cli.rs.
    let flood = ["examples/flood/options.rs", "src/cli.rs"]
        .map(|file| std::fs::read_to_string(root().join(file)).expect(file))
        .concat();
    let mut unknown = Vec::new();
    let mut checked = 0;
    for (path, text) in documents() {
        for line in quoted_code(&text) {
            let programs = [("reactor-server", &server), ("reactor-client", &client)];
            for (program, help) in programs {
                for flag in flags_after(&line, program) {
                    checked += 1;
                    if !help.contains(&format!("{flag} ")) && !help.contains(&format!("{flag}\n")) {
                        unknown.push(format!("{}: {program} {flag}", name(&path)));
                    }
                }
            }
            for flag in flags_after(&line, "--example flood --") {
                checked += 1;
                if !flood.contains(&format!("\"{}\"", &flag[2..])) {
                    unknown.push(format!("{}: flood {flag}", name(&path)));
                }
            }
        }
    }
    assert!(checked > 5, "only {checked} quoted flags found");
    assert!(
        unknown.is_empty(),
        "flags the programs do not take:\n{}",
        unknown.join("\n")
    );
}

#[test]
fn the_readme_starts_with_the_two_set_up_commands() {
    let readme = std::fs::read_to_string(root().join("README.md")).expect("README.md");
    let (_, first) = code_blocks(&readme)
        .into_iter()
        .next()
        .expect("a code block");
    let commands: Vec<&str> = first
        .iter()
        .map(|line| line.split('#').next().unwrap().trim())
        .filter(|line| !line.is_empty())
        .collect();
    assert_eq!(commands, ["cargo run --bin reactor-server", "cargo test"]);
}
