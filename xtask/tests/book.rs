//! The book cannot drift from the code: generated pages and transcripts must
//! be fresh, every include must bring in real text, and every close reason
//! part 4 declares must be asserted by a scenario. Every listing says where
//! it lives, every chapter ends with what to run and what it prints, and
//! every diagram renders.

use scenarios::{Checkpoint, Expect, Scenario};
use xtask::{
    DEFECT_PAGES, DIAGRAMS_DIR, RENDERS_DIAGRAMS, asserted_closes, broken_fragments,
    caption_problem, defect_pages, diagram_sources, find_includes, find_listings,
    introduction_chapters, pages, render_diagram, resolve, run_it_problem, stale,
    stale_transcripts, summary_chapters, workspace_root,
};

#[test]
fn pages_are_fresh() {
    let root = workspace_root();
    let problems = stale(&root, &pages(&root).expect("rendering")).expect("reading");
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
fn transcripts_show_the_tables_facts() {
    let problems = stale_transcripts(&workspace_root()).expect("reading");
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
fn every_include_resolves_to_text() {
    let book_src = workspace_root().join("book/src");
    let includes = find_includes(&book_src).expect("reading the book");
    assert!(
        !includes.is_empty(),
        "the book includes nothing: is book/src there?"
    );
    let problems: Vec<String> = includes
        .iter()
        .filter_map(|include| {
            resolve(&book_src, include).err().map(|err| {
                format!(
                    "{}:{}: {{{{#include {}}}}}: {err:#}",
                    include.page.display(),
                    include.line,
                    include.argument
                )
            })
        })
        .collect();
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
fn every_known_defect_has_a_section_in_exactly_one_defect_page() {
    // The matrix links each defect to the page of `DEFECT_PAGES` that has a
    // heading with its `{#id}`: What breaks, or part 4's Faults a deployment meets.
    let sections = defect_pages(&workspace_root().join("book/src")).expect("reading the pages");
    let problems: Vec<String> = sections
        .iter()
        .filter(|(id, _)| {
            let scenario = Scenario::ALL.iter().find(|s| s.id() == *id);
            scenario.is_some_and(|scenario| {
                Checkpoint::ALL
                    .iter()
                    .any(|c| matches!(scenarios::expect(*c, *scenario), Expect::Defect { .. }))
            })
        })
        .filter_map(|(id, pages)| match pages.as_slice() {
            [_] => None,
            [] => Some(format!(
                "{id}: no heading with {{#{id}}} in any of {}",
                DEFECT_PAGES.join(", ")
            )),
            several => Some(format!(
                "{id}: a heading with {{#{id}}} in {}; keep it in one",
                several.join(" and ")
            )),
        })
        .collect();
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
fn every_close_reason_of_part4_is_asserted() {
    // Each `const NAME: &str = "...";` in part 4's `limits` block, but the
    // healthcheck text, is a close reason; each must be one a scenario sees.
    let source = std::fs::read_to_string(workspace_root().join("part4-hardening/src/main.rs"))
        .expect("reading part4");
    let asserted: Vec<String> = asserted_closes(Checkpoint::Part4)
        .into_iter()
        .map(|(_, reason, _)| reason)
        .collect();
    let declared: Vec<&str> = source
        .lines()
        .skip_while(|line| !line.contains("ANCHOR: limits"))
        .take_while(|line| !line.contains("ANCHOR_END: limits"))
        .filter(|line| line.starts_with("const ") && line.contains(": &str"))
        .filter(|line| !line.contains("HEALTHCHECK_TEXT"))
        .map(|line| line.split_whitespace().nth(1).unwrap_or(line))
        .collect();
    assert!(declared.len() >= 7, "found only {declared:?}");
    // The reasons may wrap onto the next line, so look them up in the whole text.
    for reason in &asserted {
        assert!(
            source.contains(&format!("\"{reason}\"")),
            "part 4 never declares the asserted reason {reason:?}"
        );
    }
    assert_eq!(
        declared.len(),
        asserted.len(),
        "part 4 declares {declared:?} but the scenarios assert {asserted:?}"
    );
}

#[test]
fn every_listing_has_a_caption_naming_its_file_and_item() {
    let root = workspace_root();
    let listings = find_listings(&root.join("book/src")).expect("reading the book");
    assert!(
        listings.len() > 50,
        "found only {} listings",
        listings.len()
    );
    let problems: Vec<String> = listings
        .iter()
        .filter_map(|listing| {
            caption_problem(&root, listing).map(|problem| {
                format!(
                    "{}:{}: {{{{#include {}}}}}: {problem}",
                    listing.include.page.display(),
                    listing.include.line,
                    listing.include.argument
                )
            })
        })
        .collect();
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
fn the_introduction_lists_the_chapters_of_summary_in_order() {
    let book_src = workspace_root().join("book/src");
    let summary: Vec<String> = summary_chapters(&book_src)
        .expect("reading SUMMARY.md")
        .into_iter()
        .filter(|chapter| chapter != "introduction.md")
        .collect();
    assert!(summary.len() > 8, "SUMMARY.md lists only {summary:?}");
    let introduction = introduction_chapters(&book_src).expect("reading introduction.md");
    assert_eq!(
        introduction, summary,
        "the introduction's table of chapters must list SUMMARY.md's chapters in its order"
    );
}

/// Chapters that are not a step a reader types along with: the overview,
/// the primer and glossary (no program of their own), the benchmarks (their
/// output is the tables themselves), the matrix (which is every command with
/// its output), and the appendices.
const NO_RUN_IT: &[&str] = &[
    "introduction.md",
    "async-primer.md",
    "glossary.md",
    "costs.md",
    "matrix.md",
    "workshop.md",
    "generated/exercises.md",
];

#[test]
fn every_chapter_ends_with_run_it_and_its_output() {
    let book_src = workspace_root().join("book/src");
    let problems: Vec<String> = summary_chapters(&book_src)
        .expect("reading SUMMARY.md")
        .into_iter()
        .filter(|chapter| !NO_RUN_IT.contains(&chapter.as_str()))
        .filter(|chapter| !chapter.starts_with("appendix-"))
        .filter_map(|chapter| {
            run_it_problem(&book_src, &chapter)
                .expect("reading a chapter")
                .map(|problem| format!("{chapter}: {problem}"))
        })
        .collect();
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
fn no_listing_is_shown_twice_on_a_page_or_in_two_sections_of_part_4() {
    let book_src = workspace_root().join("book/src");
    let listings = find_listings(&book_src).expect("reading the book");
    let in_part4 = |page: &str| page.starts_with("part4");
    let mut problems = Vec::new();
    for (index, listing) in listings.iter().enumerate() {
        let page = listing.include.page.to_string_lossy();
        for earlier in &listings[..index] {
            let earlier_page = earlier.include.page.to_string_lossy();
            let same_place = earlier_page == page || (in_part4(&page) && in_part4(&earlier_page));
            if same_place && earlier.include.argument == listing.include.argument {
                problems.push(format!(
                    "{page}:{} repeats {} from {earlier_page}:{}",
                    listing.include.line, listing.include.argument, earlier.include.line
                ));
            }
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
fn every_diagram_renders_and_is_shown() {
    let root = workspace_root();
    let sources = diagram_sources(&root).expect("listing book/diagrams");
    assert!(sources.len() >= 6, "found only {sources:?}");
    let book_src = root.join("book/src");
    let shown: Vec<String> = find_includes(&book_src)
        .expect("reading the book")
        .into_iter()
        .map(|include| include.argument)
        .collect();
    let mut problems = Vec::new();
    for source in &sources {
        let text = std::fs::read_to_string(root.join(source)).expect("reading a diagram");
        // Where xtask renders no diagrams, CI's run on Linux renders them.
        if RENDERS_DIAGRAMS && let Err(err) = render_diagram(&text) {
            problems.push(format!("{}: {err:#}", source.display()));
        }
        let stem = source.file_stem().unwrap_or_default().to_string_lossy();
        let svg = format!("generated/diagrams/{stem}.svg");
        if !shown.contains(&svg) {
            problems.push(format!("no page includes {svg}"));
        }
    }
    // An SVG whose source was deleted would otherwise linger in the book.
    for entry in std::fs::read_dir(root.join(DIAGRAMS_DIR)).expect("listing the diagrams") {
        let name = entry.expect("listing the diagrams").file_name();
        let stem = name.to_string_lossy().trim_end_matches(".svg").to_string();
        if !sources
            .iter()
            .any(|s| s.file_stem().is_some_and(|f| *f == *stem))
        {
            problems.push(format!(
                "{DIAGRAMS_DIR}/{} has no source in book/diagrams: delete it",
                name.to_string_lossy()
            ));
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
#[cfg_attr(
    not(target_os = "linux"),
    ignore = "xtask renders diagrams on Linux only (RENDERS_DIAGRAMS)"
)]
fn a_broken_diagram_is_an_error() {
    assert!(render_diagram("box \"unclosed").is_err());
    assert!(render_diagram("box \"fine\"").is_ok());
}

#[test]
fn every_link_to_a_section_finds_it() {
    let problems = broken_fragments(&workspace_root().join("book/src")).expect("reading the book");
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

/// A scenario command on a page: `cargo test ... --test scenarios [FILTER]
/// [-- ... --exact]`, in a code block or an inline code span.
#[derive(Debug, PartialEq, Eq)]
struct ScenarioCommand {
    /// The test-name filter; `None` runs every scenario.
    filter: Option<String>,
    exact: bool,
}

/// The scenario commands on one line of markdown.
fn scenario_commands(line: &str) -> Vec<ScenarioCommand> {
    const MARK: &str = "--test scenarios";
    // Options of cargo and of the harness whose value is not a filter.
    const TAKES_VALUE: &[&str] = &[
        "-p",
        "--package",
        "-F",
        "--features",
        "--target",
        "--test",
        "--bin",
        "-j",
        "--jobs",
        "--profile",
        "--test-threads",
        "--skip",
        "--format",
        "--color",
        "--logfile",
    ];
    line.match_indices(MARK)
        .map(|(at, _)| {
            // A command ends with its code span, at a comment, or where the
            // shell starts another.
            let rest = line[at + MARK.len()..]
                .split(['`', '#', ';', '|', '&', ')'])
                .next()
                .unwrap_or_default();
            let mut command = ScenarioCommand {
                filter: None,
                exact: false,
            };
            let mut tokens = rest.split_whitespace();
            while let Some(token) = tokens.next() {
                if token == "--exact" {
                    command.exact = true;
                } else if TAKES_VALUE.contains(&token) {
                    tokens.next();
                } else if !token.starts_with('-') && command.filter.is_none() {
                    command.filter = Some(token.trim_matches(['"', '\'']).to_string());
                }
            }
            command
        })
        .collect()
}

/// What is wrong with a scenario command, if anything: a filter that runs
/// no scenario, or one that names a scenario but also runs others (libtest
/// filters by substring unless `--exact`). A filter that is no scenario's
/// name and matches several (`cluster`) asks for a group on purpose.
fn scenario_command_problem(command: &ScenarioCommand, names: &[String]) -> Option<String> {
    let filter = command.filter.as_deref()?;
    if filter.starts_with('$') {
        // A shell variable: its values are not on this line.
        return None;
    }
    let runs: Vec<&str> = names
        .iter()
        .map(String::as_str)
        .filter(|name| {
            if command.exact {
                *name == filter
            } else {
                name.contains(filter)
            }
        })
        .collect();
    if runs.is_empty() {
        return Some(format!("`{filter}` runs no scenario test"));
    }
    if runs.len() > 1 && runs.contains(&filter) {
        return Some(format!(
            "`{filter}` also runs {}: add `-- --exact`",
            runs.iter()
                .filter(|name| **name != filter)
                .copied()
                .collect::<Vec<_>>()
                .join(", ")
        ));
    }
    None
}

#[test]
fn a_single_scenario_command_runs_that_scenario_alone() {
    let names: Vec<String> = Scenario::ALL.iter().map(|s| s.test_name()).collect();
    let root = workspace_root();
    let mut pages = vec![root.join("README.md")];
    for entry in std::fs::read_dir(root.join("book/src")).expect("listing book/src") {
        let path = entry.expect("listing book/src").path();
        if path.extension().is_some_and(|ext| ext == "md") {
            pages.push(path);
        }
    }
    let mut seen = 0;
    let mut problems = Vec::new();
    for page in &pages {
        let text = std::fs::read_to_string(page)
            .unwrap_or_else(|err| panic!("reading {}: {err}", page.display()));
        for (number, line) in text.lines().enumerate() {
            for command in scenario_commands(line) {
                seen += 1;
                if let Some(problem) = scenario_command_problem(&command, &names) {
                    let page = page.strip_prefix(&root).unwrap_or(page).display();
                    problems.push(format!("{page}:{}: {problem}", number + 1));
                }
            }
        }
    }
    assert!(
        seen > 0,
        "no scenario command found: has the command changed?"
    );
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
fn scenario_commands_are_read_as_cargo_and_libtest_read_them() {
    let names: Vec<String> = ["broadcast", "cluster_broadcast", "user_leaves"]
        .map(String::from)
        .into();
    let check = |line: &str| {
        let commands = scenario_commands(line);
        assert_eq!(commands.len(), 1, "{line}");
        scenario_command_problem(&commands[0], &names)
    };
    assert!(check("cargo test -p part2 --test scenarios broadcast").is_some());
    assert!(check("`cargo test -p part2 --test scenarios broadcast` runs").is_some());
    assert!(check("cargo test -p part2 --test scenarios broadcast -- --exact").is_none());
    assert!(check("cargo test --test scenarios -- --exact broadcast").is_none());
    assert!(check("cargo test -p part2 --test scenarios user_leaves").is_none());
    assert!(check("cargo test -p part2 --test scenarios user_left").is_some());
    assert!(check("cargo test -p p --test scenarios cluster  # the cluster ones").is_none());
    assert!(check("cargo test -p p --test scenarios -- --test-threads 1").is_none());
    assert!(check("cargo test -p p --test scenarios \"$scenario\"").is_none());
    assert!(check("cargo test -p p --test scenarios clust -- --exact").is_some());
}

/// The README's address for the published book while the repository has no
/// GitHub remote to derive it from.
const PAGES_PLACEHOLDER: &str = "https://OWNER.github.io/REPO/";

/// The address GitHub Pages serves a repository's book at (the workflow
/// publishes a project site), from its remote's URL; `None` for a remote
/// that is not on GitHub.
fn pages_address(remote: &str) -> Option<String> {
    let remote = remote.trim();
    let path = [
        "git@github.com:",
        "ssh://git@github.com/",
        "https://github.com/",
    ]
    .iter()
    .find_map(|prefix| remote.strip_prefix(prefix))?;
    let path = path.trim_end_matches('/');
    let (owner, repo) = path.strip_suffix(".git").unwrap_or(path).split_once('/')?;
    // Pages hosts are lowercase; a repository named after the host is
    // served at its root.
    let owner = owner.to_lowercase();
    if repo.eq_ignore_ascii_case(&format!("{owner}.github.io")) {
        return Some(format!("https://{owner}.github.io/"));
    }
    Some(format!("https://{owner}.github.io/{repo}/"))
}

#[test]
fn the_readme_links_the_published_book() {
    assert_eq!(
        pages_address("git@github.com:Some-One/chat-book.git").as_deref(),
        Some("https://some-one.github.io/chat-book/")
    );
    assert_eq!(
        pages_address("https://github.com/a/A.github.io").as_deref(),
        Some("https://a.github.io/")
    );
    assert_eq!(pages_address("/srv/git/tutorial.git"), None);

    let root = workspace_root();
    let readme = std::fs::read_to_string(root.join("README.md")).expect("reading README.md");
    let remote = std::process::Command::new("git")
        .current_dir(&root)
        .args(["remote", "get-url", "origin"])
        .output()
        .ok()
        .filter(|output| output.status.success())
        .map(|output| String::from_utf8_lossy(&output.stdout).trim().to_string());
    match remote.as_deref().and_then(pages_address) {
        Some(address) => assert!(
            readme.contains(&format!("<{address}>")),
            "origin is {remote:?}: README.md must link the published book as <{address}> \
             (in place of <{PAGES_PLACEHOLDER}>, whose explanation can go)"
        ),
        None => assert!(
            readme.contains(&format!("<{PAGES_PLACEHOLDER}>")),
            "with no GitHub remote, README.md must link the book's address as \
             <{PAGES_PLACEHOLDER}> and say what to put in its place"
        ),
    }
}
