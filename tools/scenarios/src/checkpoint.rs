//! The checkpoint crates of the tutorial.

/// Declares [`Checkpoint`], [`Checkpoint::ALL`] and the package names from one
/// list, so that a new checkpoint cannot be left out of any of them.
macro_rules! checkpoints {
    ($($(#[doc = $doc:literal])* $variant:ident => $package:literal,)*) => {
        /// A checkpoint crate of the tutorial.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum Checkpoint {
            $($(#[doc = $doc])* $variant,)*
        }

        impl Checkpoint {
            /// Every checkpoint, in the order of the tutorial.
            pub const ALL: &'static [Checkpoint] = &[$(Checkpoint::$variant),*];

            /// The Cargo package name, which is also the crate's folder name.
            pub fn package(self) -> &'static str {
                match self {
                    $(Checkpoint::$variant => $package,)*
                }
            }
        }
    };
}

checkpoints! {
    /// `part1`: the healthcheck and the server struct.
    Part1 => "part1",
    /// `part2`: the blog's sessions with the merged-streams run loop.
    Part2 => "part2",
    /// `part3-select-comparison`: part2 with the actix example's nested `select` loop.
    Part3 => "part3-select-comparison",
    /// `part4-hardening`: every defect fixed, a `tokio::select!` loop and a browser client.
    Part4 => "part4-hardening",
    /// `part5-scale-out`: part4 on several processes, one chat, over Redis pub/sub.
    Part5 => "part5-scale-out",
    /// `part6-identity`: part5 with accounts, a signed token on every upgrade, and wss.
    Part6 => "part6-identity",
}

impl Checkpoint {
    /// A short name for narrow tables: the package name up to its first `-`.
    pub fn short(self) -> &'static str {
        let package = self.package();
        package.split('-').next().unwrap_or(package)
    }
}
