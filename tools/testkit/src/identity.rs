//! Part 6's tokens, made by the harness. Every server the harness starts
//! gets [`TOKEN_KEY`] (the checkpoints before part 6 ignore it), and every
//! client that names a numeric uid also sends a token for it, signed with
//! that key, as a login service sharing the key would issue. Part 6 believes
//! the token and ignores the `uid` header; parts 2 to 5 do the opposite; so
//! one runner speaks to all of them as the same user.
//!
//! A token is `uid.expires.signature`, the signature HMAC-SHA-256 of
//! `uid.expires` in hex. The HMAC here is RustCrypto's and part 6's is
//! ring's, so each checks the other.

use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// The key every server the harness starts signs tokens with.
pub const TOKEN_KEY: &str = "testkit: the token key of every server the harness starts";

/// How long the harness's tokens last: longer than any scenario.
const LIFETIME: Duration = Duration::from_secs(60 * 60);

/// Seconds since 1970, as tokens count.
pub fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |since| since.as_secs())
}

/// A token for `uid` that expires at `expires`, signed with `key`.
pub fn token_with(key: &str, uid: &str, expires: u64) -> String {
    let claim = format!("{uid}.{expires}");
    let signature = sign_hex(key, &claim);
    format!("{claim}.{signature}")
}

/// HMAC-SHA-256 of `data` under `key`, in lowercase hex.
fn sign_hex(key: &str, data: &str) -> String {
    // HMAC takes a key of any length, so `new_from_slice` cannot fail here.
    let Ok(mut mac) = <Hmac<Sha256> as KeyInit>::new_from_slice(key.as_bytes()) else {
        return String::new();
    };
    mac.update(data.as_bytes());
    mac.finalize()
        .into_bytes()
        .iter()
        .map(|byte| format!("{byte:02x}"))
        .collect()
}

/// A token for `uid` (a number), good for an hour, under [`TOKEN_KEY`].
pub fn token_for(uid: &str) -> Option<String> {
    uid.parse::<i64>().ok()?;
    Some(token_with(TOKEN_KEY, uid, unix_now() + LIFETIME.as_secs()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_signature_is_hmac_sha256() {
        // RFC 4231, test case 2.
        assert_eq!(
            sign_hex("Jefe", "what do ya want for nothing?"),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
        assert_eq!(
            token_with("Jefe", "1", 5),
            format!("1.5.{}", sign_hex("Jefe", "1.5"))
        );
    }

    #[test]
    fn only_numbers_get_a_token() {
        assert!(token_for("7").is_some());
        assert!(token_for("abc").is_none());
    }
}
