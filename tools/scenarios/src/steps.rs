//! Part 4 in steps: stacked patches in `part4-hardening/steps/`, one per
//! idea, in the order the book teaches them. Applied in order to a copy of
//! `part3-select-comparison`'s crate, they give `part4-hardening`'s files
//! exactly. Each names the scenarios it turns from defect to works, so that
//! `cargo xtask steps verify` can check that every stage builds, that its
//! step fixed exactly those, and that nothing that worked broke.

use crate::Scenario;

/// One step from part 3 towards part 4.
#[derive(Debug, Clone, Copy)]
pub struct Step {
    /// A short kebab-case name; the patch is `NN-<slug>.patch`.
    pub slug: &'static str,
    /// What the step does, in a few words.
    pub title: &'static str,
    /// The book page that teaches it and includes its patch.
    pub page: &'static str,
    /// The scenarios that turn from defect to works with it.
    pub fixes: &'static [Scenario],
}

impl Step {
    /// The patch's file name in `part4-hardening/steps/`, for the step
    /// numbered `number` (from 1).
    pub fn patch_name(&self, number: usize) -> String {
        format!("{number:02}-{}.patch", self.slug)
    }
}

/// Where the patches live, relative to the workspace root.
pub const STEPS_DIR: &str = "part4-hardening/steps";

/// The steps, in order. Empty until the patches are written.
pub const STEPS: &[Step] = &[];
