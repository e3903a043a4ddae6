//! Part 4 in steps holds together: every step has its patch, the patches
//! applied to part 3 give part 4 exactly, none is too long to read, together
//! they fix what part 4 fixes, and the book shows each one once, in a
//! section of its own on the page that teaches it. (`cargo xtask steps
//! verify`, run by CI, proves what each stage builds and fixes.)

use scenarios::steps::{STEPS, STEPS_DIR};
use scenarios::{Checkpoint, Scenario, Verdict, expect};
use std::collections::BTreeSet;
use std::fs;
use xtask::steps::{MOST_CHANGED_LINES, changed_lines, judged_scenarios, patches};
use xtask::{find_includes, workspace_root};

#[test]
fn every_step_has_its_patch_and_every_patch_a_step() {
    let root = workspace_root();
    let wanted: BTreeSet<String> = patches(&root)
        .iter()
        .map(|patch| {
            patch
                .file_name()
                .unwrap_or_default()
                .to_string_lossy()
                .into_owned()
        })
        .collect();
    let present: BTreeSet<String> = fs::read_dir(root.join(STEPS_DIR))
        .unwrap_or_else(|err| panic!("listing {STEPS_DIR}: {err}"))
        .map(|entry| {
            let entry = entry.unwrap_or_else(|err| panic!("listing {STEPS_DIR}: {err}"));
            entry.file_name().to_string_lossy().into_owned()
        })
        .collect();
    assert_eq!(
        present, wanted,
        "{STEPS_DIR} against scenarios::steps::STEPS"
    );
}

#[test]
fn the_steps_applied_to_part3_give_part4_exactly() {
    let problems = xtask::steps::reproduction_problems(&workspace_root())
        .unwrap_or_else(|err| panic!("applying the steps: {err:#}"));
    assert!(
        problems.is_empty(),
        "the steps do not give part 4: {problems:#?}\nAfter changing part 4, change the step \
         that introduced that code (see ARCHITECTURE.md, part 4 in steps)"
    );
}

#[test]
fn no_step_is_too_long_to_read() {
    for (patch, step) in patches(&workspace_root()).iter().zip(STEPS) {
        let text = fs::read_to_string(patch)
            .unwrap_or_else(|err| panic!("reading {}: {err}", patch.display()));
        let lines = changed_lines(&text);
        assert!(
            lines <= MOST_CHANGED_LINES,
            "{} changes {lines} lines, more than {MOST_CHANGED_LINES}: split the step",
            step.slug
        );
        assert!(lines > 0, "{} changes nothing", step.slug);
    }
}

#[test]
fn together_the_steps_fix_what_part4_fixes_each_once() {
    let mut fixed = Vec::new();
    for step in STEPS {
        for &scenario in step.fixes {
            assert_eq!(
                expect(Checkpoint::Part3, scenario).verdict(),
                Verdict::Defect,
                "{} fixes {}, which part 3 does not get wrong",
                step.slug,
                scenario.id()
            );
            assert!(
                !fixed.contains(&scenario),
                "{} is fixed by two steps",
                scenario.id()
            );
            fixed.push(scenario);
        }
    }
    let wanted: BTreeSet<Scenario> = judged_scenarios()
        .filter(|&scenario| {
            expect(Checkpoint::Part3, scenario).verdict() == Verdict::Defect
                && expect(Checkpoint::Part4, scenario).verdict() == Verdict::Works
        })
        .collect();
    let fixed: BTreeSet<Scenario> = fixed.into_iter().collect();
    assert_eq!(
        fixed, wanted,
        "what the steps fix against what part 4 fixes"
    );
}

/// Each step's patch is included once in the whole book: on its own page, in
/// a `##` section that includes no other step.
#[test]
fn the_book_shows_each_step_once_in_a_section_of_its_own() {
    let book_src = workspace_root().join("book/src");
    let includes = find_includes(&book_src).expect("reading the book");
    for (index, step) in STEPS.iter().enumerate() {
        let name = step.patch_name(index + 1);
        let found: Vec<_> = includes
            .iter()
            .filter(|include| include.argument.ends_with(&format!("{STEPS_DIR}/{name}")))
            .collect();
        assert_eq!(
            found.len(),
            1,
            "{name} should be included once in the book, on {}",
            step.page
        );
        assert_eq!(
            found[0].page.to_string_lossy().replace('\\', "/"),
            step.page,
            "{name} is included on the wrong page"
        );
    }
    for page in STEPS.iter().map(|step| step.page).collect::<BTreeSet<_>>() {
        let text = fs::read_to_string(book_src.join(page))
            .unwrap_or_else(|err| panic!("reading {page}: {err}"));
        for section in text.split("\n## ").skip(1) {
            let steps_here = section
                .lines()
                .filter(|line| line.contains("{{#include") && line.contains(STEPS_DIR))
                .count();
            let heading = section.lines().next().unwrap_or_default();
            assert!(
                steps_here <= 1,
                "{page}, section \"{heading}\", includes {steps_here} steps"
            );
            if steps_here == 1 {
                let number = STEPS
                    .iter()
                    .enumerate()
                    .position(|(index, step)| section.contains(&step.patch_name(index + 1)))
                    .map(|index| index + 1);
                let number = number
                    .unwrap_or_else(|| panic!("{page}: \"{heading}\" shows a patch no step has"));
                assert!(
                    heading.starts_with(&format!("Step 4.{number}: ")),
                    "{page}: \"{heading}\" shows step 4.{number}'s diff"
                );
            }
            assert_eq!(
                steps_here == 1,
                heading.starts_with("Step 4."),
                "{page}, section \"{heading}\": a section named \"Step 4.N: ...\" shows that \
                 step's diff, and no other section shows one"
            );
        }
    }
}

/// Where a workshop exercise and a step fix the same defect, the step's
/// section sends the reader to the exercise.
#[test]
fn each_step_section_points_at_the_exercises_that_fix_the_same_defect() {
    let book_src = workspace_root().join("book/src");
    for (index, step) in STEPS.iter().enumerate() {
        let text = fs::read_to_string(book_src.join(step.page))
            .unwrap_or_else(|err| panic!("reading {}: {err}", step.page));
        let heading = format!("\n## Step 4.{}: ", index + 1);
        let section = text
            .split_once(&heading)
            .map(|(_, rest)| rest.split("\n## ").next().unwrap_or_default())
            .unwrap_or_else(|| panic!("{} has no section \"Step 4.{}\"", step.page, index + 1));
        for (number, exercise) in scenarios::exercises::EXERCISES.iter().enumerate() {
            let shared = exercise
                .scenarios
                .iter()
                .any(|scenario| step.fixes.contains(scenario));
            let link = format!("generated/exercises.md#exercise-{}", number + 1);
            if shared {
                assert!(
                    section.contains(&link),
                    "step 4.{} and exercise {} fix the same defect: its section should link {link}",
                    index + 1,
                    number + 1
                );
            }
        }
    }
}

/// Part 5 is part 4 plus a module: its `main.rs` differs from part 4's only
/// by the hooks, a diff the appendix can show whole.
#[test]
fn part5_main_is_part4_main_plus_hooks() {
    let root = workspace_root();
    let read = |crate_dir: &str| {
        fs::read_to_string(root.join(crate_dir).join("src/main.rs"))
            .unwrap_or_else(|err| panic!("reading {crate_dir}/src/main.rs: {err}"))
    };
    let (four, five) = (read("part4-hardening"), read("part5-scale-out"));
    let changed = similar::TextDiff::from_lines(&four, &five)
        .iter_all_changes()
        .filter(|change| change.tag() != similar::ChangeTag::Equal)
        .count();
    assert!(
        changed < 200,
        "part5's main.rs differs from part4's by {changed} lines; keep the scale-out in \
         src/cluster.rs and only its hooks in main.rs"
    );
}
