//! The workshop stays usable: its crate starts as part2, every exercise has
//! its solution patch, and every "read" link of an exercise leads somewhere.
//! (`cargo xtask workshop verify`, run by CI, proves what the patches do.)

use scenarios::exercises::EXERCISES;
use std::path::Path;
use xtask::workshop::{edited, expected_after, patches};
use xtask::{fragment_ids, workspace_root};

#[test]
fn the_workshop_crate_is_a_copy_of_part2() {
    let edits = edited(&workspace_root()).expect("reading the workshop crate");
    assert!(
        edits.is_empty(),
        "{edits:?} differ from part2's. During a workshop that is expected; in the repository \
         the crate must be part2's code: `cargo xtask workshop reset` restores it"
    );
}

#[test]
fn every_exercise_has_a_patch_that_touches_only_the_workshop_crate() {
    for patch in patches(&workspace_root()) {
        let text = std::fs::read_to_string(&patch)
            .unwrap_or_else(|err| panic!("reading {}: {err}", patch.display()));
        let targets: Vec<&str> = text
            .lines()
            .filter_map(|line| line.strip_prefix("+++ b/"))
            .collect();
        assert!(!targets.is_empty(), "{} changes nothing", patch.display());
        for target in targets {
            assert!(
                target.starts_with("workshop/") && !target.starts_with("workshop/solutions/"),
                "{} changes {target}",
                patch.display()
            );
        }
    }
}

#[test]
fn every_exercise_links_to_a_section_that_exists() {
    let book_src = workspace_root().join("book/src");
    for exercise in EXERCISES {
        let (page, id) = exercise
            .read
            .split_once('#')
            .unwrap_or_else(|| panic!("{}: {} has no #section", exercise.slug, exercise.read));
        let ids = fragment_ids(&book_src, Path::new(page))
            .unwrap_or_else(|err| panic!("{}: reading {page}: {err:#}", exercise.slug));
        assert!(
            ids.iter().any(|known| known == id),
            "{}: {page} has no section #{id}",
            exercise.slug
        );
    }
}

#[test]
fn the_workshop_page_counts_what_part2_gets_right() {
    let page = std::fs::read_to_string(workspace_root().join("book/src/workshop.md"))
        .expect("reading workshop.md");
    let page = page.split_whitespace().collect::<Vec<_>>().join(" ");
    let before = expected_after(0);
    let works = before
        .values()
        .filter(|verdict| **verdict == "works")
        .count();
    let sentence = format!(
        "On part 2's code, {works} scenarios work and {} do not",
        before.len() - works
    );
    assert!(
        page.contains(&sentence),
        "book/src/workshop.md should say {sentence:?}"
    );
}
