//! `cargo xtask bundle`: the offline archive for a room without a network.

use anyhow::{Context, Result, bail};
use std::fs;
use std::path::Path;
use std::process::Command;

/// The folder name inside the bundle.
pub const BUNDLE_NAME: &str = "rust-websocket-tutorial";

/// What makes cargo use the vendored sources and never the network.
pub const OFFLINE_CONFIG: &str =
    "# Written by `cargo xtask bundle`: build from vendor/, never the network.
[source.crates-io]
replace-with = \"vendored-sources\"

[source.vendored-sources]
directory = \"vendor\"

[net]
offline = true
";

/// The bundle's `.cargo/config.toml`: the repository's `own`, then
/// [`OFFLINE_CONFIG`].
pub fn offline_config(own: &str) -> String {
    if own.trim().is_empty() {
        return OFFLINE_CONFIG.to_string();
    }
    format!("{}\n\n{OFFLINE_CONFIG}", own.trim_end())
}

/// Writes `out`, a `.tar.gz` of everything a workshop needs without a
/// network: the repository's tracked files as they are now, every
/// dependency's source (`cargo vendor`) with the configuration that uses it,
/// the built book, and `OFFLINE.md`. Needs git, tar and mdbook.
pub fn bundle(root: &Path, out: &Path) -> Result<()> {
    let staging = scenarios::target_dir().join("bundle");
    if staging.exists() {
        fs::remove_dir_all(&staging).with_context(|| format!("clearing {}", staging.display()))?;
    }
    let tree = staging.join(BUNDLE_NAME);
    println!("copying the repository's files ...");
    let listed = Command::new("git")
        .current_dir(root)
        .args(["ls-files", "-z"])
        .output()
        .context("running git ls-files (the bundle is made from a git clone)")?;
    if !listed.status.success() {
        bail!(
            "git ls-files failed: {}",
            String::from_utf8_lossy(&listed.stderr)
        );
    }
    for file in listed.stdout.split(|&b| b == 0).filter(|f| !f.is_empty()) {
        let file = Path::new(std::str::from_utf8(file).context("a file name that is not UTF-8")?);
        let from = root.join(file);
        // A tracked file deleted in the work tree is simply not bundled.
        if !from.is_file() {
            continue;
        }
        let to = tree.join(file);
        if let Some(parent) = to.parent() {
            fs::create_dir_all(parent).with_context(|| format!("creating {}", parent.display()))?;
        }
        fs::copy(&from, &to).with_context(|| format!("copying {}", file.display()))?;
    }
    println!("vendoring every dependency (cargo vendor) ...");
    let vendored = Command::new(env!("CARGO"))
        .current_dir(root)
        .args(["vendor", "--locked", "--quiet"])
        .arg(tree.join("vendor"))
        .stdout(std::process::Stdio::null())
        .status()
        .context("running cargo vendor")?;
    if !vendored.success() {
        bail!("cargo vendor failed");
    }
    fs::create_dir_all(tree.join(".cargo")).context("creating .cargo/")?;
    // The repository's own configuration (the `cargo xtask` alias) stays:
    // the offline part is added to it, never written over it.
    let own = fs::read_to_string(root.join(".cargo/config.toml")).unwrap_or_default();
    fs::write(tree.join(".cargo/config.toml"), offline_config(&own))
        .context("writing .cargo/config.toml")?;
    println!("building the book (mdbook build) ...");
    let book = Command::new("mdbook")
        .current_dir(root)
        .args(["build", "book", "--dest-dir"])
        .arg(tree.join("book/book"))
        .status()
        .context("running mdbook (install it with `cargo install mdbook --version 0.5.4`)")?;
    if !book.success() {
        bail!("mdbook build failed");
    }
    fs::write(tree.join("OFFLINE.md"), OFFLINE_README).context("writing OFFLINE.md")?;
    println!("packing {} ...", out.display());
    if let Some(parent) = out.parent() {
        fs::create_dir_all(parent).with_context(|| format!("creating {}", parent.display()))?;
    }
    let packed = Command::new("tar")
        .arg("-czf")
        .arg(out)
        .arg("-C")
        .arg(&staging)
        .arg(BUNDLE_NAME)
        .status()
        .context("running tar")?;
    if !packed.success() {
        bail!("tar failed to write {}", out.display());
    }
    Ok(())
}

/// The bundle's own README.
pub const OFFLINE_README: &str = "# The tutorial, offline

This folder is a copy of the tutorial's repository made by `cargo xtask bundle`
for rooms without a network. It holds the source of every dependency in
`vendor/`, and `.cargo/config.toml` tells cargo to use them and never to go
online. All you need is Rust (rustup's stable toolchain, 1.89 or newer).

1. Build what the room runs once (about 2 minutes on a laptop): the
   checkpoints, the workshop crate, its checker and the chat client.
   `cargo xtask` builds itself the first time it is used.

       cargo build

2. Open the book: `book/book/index.html` in a browser. It is already built,
   and its search works from disk.

3. The workshop: the book's \"Running a workshop\" appendix. In short,

       cargo run -p workshop-check                 # what is left to fix
       cargo run -p workshop-check -- hint 1       # the next hint of exercise 1
       cargo xtask workshop solve 3                # jump to after exercise 3
       cargo xtask workshop reset                  # start again from part2
       cargo xtask workshop restore                # the edits reset or solve saved

4. Instructors, on each laptop the day before: this builds everything the
   room runs and checks one scenario, so nothing is left for the day.

       cargo xtask workshop preflight

Nothing here downloads anything. `mdbook serve book` needs mdbook, which is
not bundled; the built book needs nothing but a browser.
";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_offline_config_keeps_the_xtask_alias() {
        let own = fs::read_to_string(scenarios::workspace_root().join(".cargo/config.toml"))
            .expect("reading the repository's .cargo/config.toml");
        let config = offline_config(&own);
        assert!(config.contains("xtask = \"run"), "{config}");
        assert!(
            config.contains("replace-with = \"vendored-sources\""),
            "{config}"
        );
        assert!(config.contains("offline = true"), "{config}");
        // One [alias] table, one [net]: TOML refuses a table twice.
        assert_eq!(config.matches("[alias]").count(), 1, "{config}");
        assert_eq!(config.matches("[net]").count(), 1, "{config}");
    }
}
