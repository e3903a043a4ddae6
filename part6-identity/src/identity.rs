//! Identity: who is speaking. Part 5 believed any uid a client sent; here a
//! user logs in with a name and a password (`POST /login`), gets a signed
//! token that says which uid they are and until when, and every WebSocket
//! upgrade must carry one (`Authorization: Bearer`, or the cookie the login
//! set for the browser page). The uid header and query are not read at all.
//!
//! - Accounts live in a users file (`USERS_FILE`), one per line: name, uid
//!   and an Argon2id hash of the password, never the password itself.
//!   `part6-identity add-user NAME` adds one.
//! - A token is `uid.expires.signature`: HMAC-SHA-256, under `TOKEN_KEY`, of
//!   the uid and the second it expires. Every node that shares the key
//!   accepts every node's tokens, and nothing is stored per login.
//! - With `TLS_CERT` and `TLS_KEY` the server speaks HTTPS and wss, so that
//!   passwords and tokens do not cross the network in the clear.

use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, web};
use argon2::Argon2;
use argon2::password_hash::{PasswordHasher, PasswordVerifier};
use ring::hmac;
use std::collections::HashMap;
use std::io::Write;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

// ANCHOR: constants
/// How long a token is good for: a working day. There is no revocation, so
/// this is also how long a stolen token works (see the chapter).
pub const TOKEN_LIFETIME: Duration = Duration::from_secs(12 * 60 * 60);
/// A key shorter than SHA-256's output would be the weak link of the HMAC.
pub const MIN_KEY_BYTES: usize = 32;
/// Login attempts one address may make at once, then one more every
/// `LOGIN_REFILL`; each attempt costs an Argon2 hash, on purpose slow.
pub const LOGIN_BURST: u32 = 5;
pub const LOGIN_REFILL: Duration = Duration::from_secs(12);
/// The cookie the login sets for the browser page.
pub const TOKEN_COOKIE: &str = "chat_token";
/// The bodies of the refusals, for a person reading them.
pub const NO_TOKEN: &str = "log in first: send `Authorization: Bearer <token>` (POST /login gives one) or log in on the page";
pub const BAD_TOKEN: &str = "this token was not issued by this chat, or was changed: log in again";
pub const EXPIRED_TOKEN: &str = "this token has expired: log in again";
pub const WRONG_PASSWORD: &str = "wrong name or password";
// ANCHOR_END: constants

/// Where the accounts are read from when `USERS_FILE` is not set: the demo
/// accounts that the README uses, shipped with the source.
const DEMO_USERS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/demo-users.txt");

// ANCHOR: settings
/// What identity needs, read from the environment before the server starts.
pub struct IdentitySettings {
    pub identity: Identity,
    /// `Some` with `TLS_CERT` and `TLS_KEY`: serve HTTPS and wss.
    pub tls: Option<rustls::ServerConfig>,
}

impl IdentitySettings {
    pub fn from_env() -> Result<Self, String> {
        let var = |name: &str| match std::env::var(name) {
            Ok(value) if !value.is_empty() => Ok(Some(value)),
            Ok(_) | Err(std::env::VarError::NotPresent) => Ok(None),
            Err(std::env::VarError::NotUnicode(_)) => Err(format!("{name} is not valid UTF-8")),
        };
        let key = match var("TOKEN_KEY")? {
            Some(key) => TokenKey::new(key.as_bytes())?,
            None => {
                log::warn!(
                    "TOKEN_KEY is not set: tokens are signed with a key made now, which no other \
                     node and no later start of this one knows; set TOKEN_KEY to {MIN_KEY_BYTES} \
                     or more characters, the same on every node"
                );
                TokenKey::random()?
            }
        };
        let users_file = match var("USERS_FILE")? {
            Some(path) => PathBuf::from(path),
            None => {
                log::warn!("USERS_FILE is not set: using the demo accounts of {DEMO_USERS}");
                PathBuf::from(DEMO_USERS)
            }
        };
        let accounts = Accounts::load(&users_file)?;
        let tls = match (var("TLS_CERT")?, var("TLS_KEY")?) {
            (Some(cert), Some(key)) => Some(tls_config(Path::new(&cert), Path::new(&key))?),
            (None, None) => None,
            _ => return Err("TLS_CERT and TLS_KEY must be set together".to_string()),
        };
        let identity = Identity {
            key: Arc::new(key),
            accounts: Arc::new(accounts),
            logins: LoginLimits::default(),
            secure_cookie: tls.is_some(),
        };
        Ok(Self { identity, tls })
    }
}
// ANCHOR_END: settings

/// Everything the handlers need to know who is speaking; cheap to clone.
#[derive(Clone)]
pub struct Identity {
    key: Arc<TokenKey>,
    accounts: Arc<Accounts>,
    logins: LoginLimits,
    /// Behind TLS the cookie is marked `Secure`, so it never goes out over
    /// plain http.
    secure_cookie: bool,
}

// ANCHOR: authenticate
impl Identity {
    /// The uid `req` has proved it is, or why it has not. The token comes
    /// from `Authorization: Bearer`, or from the login cookie, which a
    /// browser sends with the upgrade by itself.
    pub fn authenticate(&self, req: &HttpRequest) -> Result<i32, &'static str> {
        match bearer(req).or_else(|| cookie(req, TOKEN_COOKIE)) {
            None => Err(NO_TOKEN),
            Some(token) => self.key.verify(&token, unix_now()),
        }
    }
}

/// The refusal of an upgrade without a valid token: 401, which asks for
/// credentials (`WWW-Authenticate`), with the reason for a person.
pub fn unauthorized(why: &'static str) -> HttpResponse {
    HttpResponse::Unauthorized()
        .insert_header((header::WWW_AUTHENTICATE, "Bearer"))
        .body(why)
}

fn bearer(req: &HttpRequest) -> Option<String> {
    let value = req.headers().get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| token.trim().to_string())
}

fn cookie(req: &HttpRequest, name: &str) -> Option<String> {
    req.headers()
        .get_all(header::COOKIE)
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(key, _)| *key == name)
        .map(|(_, value)| value.to_string())
}
// ANCHOR_END: authenticate

// ANCHOR: login
/// `POST /login` with a form of `name` and `password`: the token as the
/// body, for a client that sends it itself, and as an HttpOnly cookie, which
/// the page's script cannot read and other sites' pages do not get.
pub async fn login(
    req: HttpRequest,
    form: web::Form<HashMap<String, String>>,
    identity: web::Data<Identity>,
) -> HttpResponse {
    if let Err(wait) = identity.logins.admit(req.peer_addr().map(|peer| peer.ip())) {
        return HttpResponse::TooManyRequests()
            .insert_header((header::RETRY_AFTER, wait.as_secs().to_string()))
            .body(format!(
                "too many login attempts from your address: try again in {} s",
                wait.as_secs()
            ));
    }
    let mut form = form.into_inner();
    let name = form.remove("name").unwrap_or_default();
    let password = form.remove("password").unwrap_or_default();
    // Argon2 takes tens of milliseconds on purpose: off the worker thread,
    // so that the chat's connections on it do not wait.
    let accounts = Arc::clone(&identity.accounts);
    let uid = match web::block(move || accounts.check(&name, &password)).await {
        Ok(Some(uid)) => uid,
        Ok(None) => return HttpResponse::Unauthorized().body(WRONG_PASSWORD),
        // The blocking pool failed, not the user: say so, not "wrong password".
        Err(err) => {
            log::error!("checking a password failed: {err}");
            return HttpResponse::InternalServerError().body("the password could not be checked");
        }
    };
    let token = identity
        .key
        .issue(uid, unix_now() + TOKEN_LIFETIME.as_secs());
    let secure = if identity.secure_cookie {
        "; Secure"
    } else {
        ""
    };
    let cookie = format!(
        "{TOKEN_COOKIE}={token}; HttpOnly; SameSite=Strict; Path=/; Max-Age={}{secure}",
        TOKEN_LIFETIME.as_secs()
    );
    HttpResponse::Ok()
        .insert_header((header::SET_COOKIE, cookie))
        .insert_header(header::CacheControl(vec![header::CacheDirective::NoStore]))
        .content_type("text/plain; charset=utf-8")
        .body(token)
}
// ANCHOR_END: login

// ANCHOR: token
/// The key that signs and checks tokens.
pub struct TokenKey(hmac::Key);

impl TokenKey {
    pub fn new(secret: &[u8]) -> Result<Self, String> {
        if secret.len() < MIN_KEY_BYTES {
            return Err(format!(
                "TOKEN_KEY must be at least {MIN_KEY_BYTES} characters long, not {}",
                secret.len()
            ));
        }
        Ok(Self(hmac::Key::new(hmac::HMAC_SHA256, secret)))
    }

    pub fn random() -> Result<Self, String> {
        let rng = ring::rand::SystemRandom::new();
        hmac::Key::generate(hmac::HMAC_SHA256, &rng)
            .map(Self)
            .map_err(|_| "the system gave no random bytes for a token key".to_string())
    }

    /// A token for `uid` that expires at `expires` (seconds since 1970).
    pub fn issue(&self, uid: i32, expires: u64) -> String {
        let claim = format!("{uid}.{expires}");
        let signature = hmac::sign(&self.0, claim.as_bytes());
        format!("{claim}.{}", hex(signature.as_ref()))
    }

    /// The uid of a token this key signed and that has not expired at `now`.
    /// The signature is checked first, in constant time, so a token whose
    /// expiry was moved is a forgery, not an expired token.
    pub fn verify(&self, token: &str, now: u64) -> Result<i32, &'static str> {
        let (claim, signature) = token.rsplit_once('.').ok_or(BAD_TOKEN)?;
        let signature = unhex(signature).ok_or(BAD_TOKEN)?;
        hmac::verify(&self.0, claim.as_bytes(), &signature).map_err(|_| BAD_TOKEN)?;
        let (uid, expires) = claim.split_once('.').ok_or(BAD_TOKEN)?;
        let uid = uid.parse().map_err(|_| BAD_TOKEN)?;
        let expires: u64 = expires.parse().map_err(|_| BAD_TOKEN)?;
        if now >= expires {
            return Err(EXPIRED_TOKEN);
        }
        Ok(uid)
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|byte| format!("{byte:02x}")).collect()
}

fn unhex(text: &str) -> Option<Vec<u8>> {
    if !text.len().is_multiple_of(2) {
        return None;
    }
    (0..text.len())
        .step_by(2)
        .map(|at| u8::from_str_radix(text.get(at..at + 2)?, 16).ok())
        .collect()
}

pub fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |since| since.as_secs())
}
// ANCHOR_END: token

// ANCHOR: accounts
/// The accounts of the users file: each name's uid and password hash.
pub struct Accounts {
    by_name: HashMap<String, (i32, String)>,
}

/// A hash to check a password against when the name is unknown, so that a
/// wrong name takes as long as a wrong password and does not tell which
/// names exist: the hash of a random password, thrown away, made with the
/// parameters `hash_password` uses. A constant, because hashing at start
/// would cost every start the time and memory of a login.
const DECOY: &str = "$argon2id$v=19$m=19456,t=2,p=1$/W5D2801bnt0KK5+zL4F4g$2CIvSknLUGzYR2Xa6SAWMXtTlVD6uUGyegoFth+K3dA";

impl Accounts {
    pub fn load(path: &Path) -> Result<Self, String> {
        let text = std::fs::read_to_string(path)
            .map_err(|err| format!("cannot read the users file {}: {err}", path.display()))?;
        Self::parse(&text).map_err(|problem| format!("{}: {problem}", path.display()))
    }

    /// Lines of `name uid hash`; blank lines and lines from `#` are skipped.
    pub fn parse(text: &str) -> Result<Self, String> {
        let mut by_name = HashMap::new();
        for (number, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let fields: Vec<&str> = line.split_whitespace().collect();
            let [name, uid, hash] = fields[..] else {
                return Err(format!("line {}: expected `name uid hash`", number + 1));
            };
            let uid = uid
                .parse::<i32>()
                .map_err(|_| format!("line {}: the uid {uid:?} is not a number", number + 1))?;
            if !hash.starts_with("$argon2") {
                return Err(format!(
                    "line {}: the password is not an Argon2 hash",
                    number + 1
                ));
            }
            if by_name
                .insert(name.to_string(), (uid, hash.to_string()))
                .is_some()
            {
                return Err(format!("line {}: {name} is there twice", number + 1));
            }
        }
        Ok(Self { by_name })
    }

    /// The uid of `name` if `password` is theirs. Slow on purpose (Argon2).
    pub fn check(&self, name: &str, password: &str) -> Option<i32> {
        let (uid, hash) = match self.by_name.get(name) {
            Some((uid, hash)) => (Some(*uid), hash.as_str()),
            None => (None, DECOY),
        };
        let matches = Argon2::default()
            .verify_password(password.as_bytes(), hash)
            .is_ok();
        uid.filter(|_| matches)
    }
}

/// An Argon2id hash of `password` with a random salt, as a PHC string
/// (`$argon2id$v=19$m=...`), which holds the parameters and salt with it.
pub fn hash_password(password: &str) -> Result<String, String> {
    Argon2::default()
        .hash_password(password.as_bytes())
        .map(|hash| hash.to_string())
        .map_err(|err| format!("cannot hash a password: {err}"))
}
// ANCHOR_END: accounts

// ANCHOR: add-user
/// `part6-identity add-user NAME [--uid N]`: adds an account to `USERS_FILE`
/// (`users.txt` when unset), with the next free uid unless one is given. The
/// password comes from `CHAT_PASSWORD` or is asked for twice, unechoed.
pub fn add_user(args: &[String]) -> ExitCode {
    match try_add_user(args) {
        Ok(message) => {
            println!("{message}");
            ExitCode::SUCCESS
        }
        Err(problem) => {
            eprintln!("error: {problem}");
            ExitCode::from(2)
        }
    }
}

fn try_add_user(args: &[String]) -> Result<String, String> {
    const USAGE: &str = "usage: part6-identity add-user NAME [--uid N] (the password from \
                         CHAT_PASSWORD or a prompt; the file from USERS_FILE, or users.txt)";
    let (name, uid) = match args {
        [name] => (name, None),
        [name, flag, uid] if flag == "--uid" => {
            let uid = uid
                .parse::<i32>()
                .map_err(|_| format!("{uid:?} is not a uid; {USAGE}"))?;
            (name, Some(uid))
        }
        _ => return Err(USAGE.to_string()),
    };
    if name.is_empty() || name.starts_with('-') || name.chars().any(char::is_whitespace) {
        return Err(format!(
            "{name:?} cannot be a name: no spaces, not empty; {USAGE}"
        ));
    }
    let path = PathBuf::from(std::env::var("USERS_FILE").unwrap_or_else(|_| "users.txt".into()));
    let existing = match std::fs::read_to_string(&path) {
        Ok(text) => text,
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => String::new(),
        Err(err) => return Err(format!("cannot read {}: {err}", path.display())),
    };
    let accounts = Accounts::parse(&existing).map_err(|p| format!("{}: {p}", path.display()))?;
    if accounts.by_name.contains_key(name.as_str()) {
        return Err(format!(
            "{name} already has an account in {}",
            path.display()
        ));
    }
    let taken = |uid: i32| accounts.by_name.values().any(|(other, _)| *other == uid);
    let uid = match uid {
        Some(uid) if taken(uid) => return Err(format!("uid {uid} is taken in {}", path.display())),
        Some(uid) => uid,
        None => {
            accounts
                .by_name
                .values()
                .map(|(uid, _)| *uid)
                .max()
                .unwrap_or(0)
                + 1
        }
    };
    let password = match std::env::var("CHAT_PASSWORD") {
        Ok(password) => password,
        Err(_) => {
            let first = rpassword::prompt_password(format!("password for {name}: "))
                .map_err(|err| format!("cannot read a password: {err}"))?;
            let again = rpassword::prompt_password("the same again: ")
                .map_err(|err| format!("cannot read a password: {err}"))?;
            if first != again {
                return Err("the two passwords differ; nothing was written".to_string());
            }
            first
        }
    };
    if password.is_empty() {
        return Err("an empty password is not a password; nothing was written".to_string());
    }
    let hash = hash_password(&password)?;
    let mut file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&path)
        .map_err(|err| format!("cannot write {}: {err}", path.display()))?;
    let newline = if existing.is_empty() || existing.ends_with('\n') {
        ""
    } else {
        "\n"
    };
    writeln!(file, "{newline}{name} {uid} {hash}")
        .map_err(|err| format!("cannot write {}: {err}", path.display()))?;
    Ok(format!(
        "added {name} (uid {uid}) to {}; start the server with USERS_FILE={} to use it",
        path.display(),
        path.display()
    ))
}
// ANCHOR_END: add-user

// ANCHOR: login-limits
/// Login attempts per client address: a bucket of `LOGIN_BURST` attempts
/// that refills one every `LOGIN_REFILL`, so that guessing passwords from one
/// address goes at a few a minute.
#[derive(Clone, Default)]
pub struct LoginLimits(Arc<Mutex<HashMap<IpAddr, (f64, Instant)>>>);

/// Addresses the table holds before it forgets those whose bucket is full.
pub const LOGIN_TABLE_PRUNE_AT: usize = 1024;

impl LoginLimits {
    /// How many addresses the table holds now.
    #[cfg(test)]
    pub fn tracked(&self) -> usize {
        self.0.lock().map_or(0, |table| table.len())
    }

    /// Admits an attempt from `ip`, or says how long to wait.
    pub fn admit(&self, ip: Option<IpAddr>) -> Result<(), Duration> {
        self.admit_at(ip, Instant::now())
    }

    pub fn admit_at(&self, ip: Option<IpAddr>, now: Instant) -> Result<(), Duration> {
        let Some(ip) = ip else { return Ok(()) };
        let burst = f64::from(LOGIN_BURST);
        let per_sec = 1.0 / LOGIN_REFILL.as_secs_f64();
        let mut table = self
            .0
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        // Forget addresses whose bucket is full again, so the table stays small.
        if table.len() > LOGIN_TABLE_PRUNE_AT {
            table.retain(|_, (tokens, last)| {
                *tokens + now.saturating_duration_since(*last).as_secs_f64() * per_sec < burst
            });
        }
        let (tokens, last) = table.entry(ip).or_insert((burst, now));
        *tokens =
            (*tokens + now.saturating_duration_since(*last).as_secs_f64() * per_sec).min(burst);
        *last = now;
        if *tokens >= 1.0 {
            *tokens -= 1.0;
            Ok(())
        } else {
            Err(Duration::from_secs_f64(((1.0 - *tokens) / per_sec).ceil()))
        }
    }
}
// ANCHOR_END: login-limits

// ANCHOR: tls
/// A rustls server configuration from PEM files: the certificate chain and
/// its private key.
fn tls_config(cert: &Path, key: &Path) -> Result<rustls::ServerConfig, String> {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};
    let chain = CertificateDer::pem_file_iter(cert)
        .and_then(Iterator::collect::<Result<Vec<_>, _>>)
        .map_err(|err| format!("TLS_CERT {}: {err}", cert.display()))?;
    if chain.is_empty() {
        return Err(format!("TLS_CERT {} holds no certificate", cert.display()));
    }
    let key = PrivateKeyDer::from_pem_file(key)
        .map_err(|err| format!("TLS_KEY {}: {err}", key.display()))?;
    // ring rather than rustls's default, aws-lc-rs, which needs cmake to
    // build; rustls 0.23.48 deprecates ring's provider only for lacking
    // post-quantum key exchange.
    #[expect(
        deprecated,
        reason = "ring's provider has no post-quantum key exchange"
    )]
    let provider = rustls::crypto::ring::default_provider();
    rustls::ServerConfig::builder_with_provider(Arc::new(provider))
        .with_safe_default_protocol_versions()
        .and_then(|builder| builder.with_no_client_auth().with_single_cert(chain, key))
        .map_err(|err| format!("TLS_CERT and TLS_KEY do not make a TLS setup: {err}"))
}
// ANCHOR_END: tls
