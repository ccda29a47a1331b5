//! Secrets at rest: [`Sealer`] encrypts a secret before the store writes it and decrypts
//! it when the store reads it, with AES-256-GCM under a key that lives outside the
//! database (an environment variable or a file; design.md decision 10).
//!
//! A sealed value is text: `sealed:v1:<key id>:<base64 of nonce ‖ ciphertext ‖ tag>`.
//! The key id (the first 8 hex digits of the key's SHA-256) says which key sealed it, so
//! keys can be rotated: a [`Sealer`] seals with its first key and opens with any of them,
//! and `callsync secrets reseal` rewrites every stored secret under the first key. A random
//! 96-bit nonce per value is safe for the few values callsync seals (well under 2^32 per
//! key).
//!
//! Where the key comes from ([`Sealer::for_database`]):
//! 1. `CALLSYNC_SECRET_KEY` (one or more base64 keys, comma-separated, the first sealing);
//! 2. the file `CALLSYNC_SECRET_KEY_FILE` or the `secrets.key_file` setting names (one key
//!    a line, the first sealing);
//! 3. for a SQLite file only, the embedded default: `<database file>.key` beside it,
//!    created with mode 0600 on first use. A copy of the database without that file holds
//!    no readable secret; back both up, separately.
//! 4. otherwise (PostgreSQL with no key set) the store refuses to start: a shared database
//!    must not have a key generated silently on one machine.
//!
//! Values written before sealing existed (plain text, no `sealed:` prefix) still open, so
//! an upgrade keeps working; `callsync secrets reseal` (and every `serve` start) seals them.

use std::fmt;
use std::path::{Path, PathBuf};

use aes_gcm::aead::{Aead as _, KeyInit as _};
use aes_gcm::{Aes256Gcm, Nonce};
use anyhow::Context as _;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use secrecy::SecretString;
use sha2::{Digest as _, Sha256};

/// The prefix of every sealed value (and its format version).
const PREFIX: &str = "sealed:v1:";

/// The environment variable holding the key(s) itself.
pub const KEY_VARIABLE: &str = "CALLSYNC_SECRET_KEY";
/// The environment variable naming a key file.
pub const KEY_FILE_VARIABLE: &str = "CALLSYNC_SECRET_KEY_FILE";

/// Why a sealed value could not be opened. Never holds the value or the key.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SecretsError {
    #[error("a sealed secret is malformed ({0})")]
    Malformed(&'static str),
    #[error(
        "a secret was sealed with key {0}, which is not configured; add it (after the current \
         key) to CALLSYNC_SECRET_KEY or the key file"
    )]
    UnknownKey(String),
    #[error(
        "a sealed secret does not decrypt with key {0}: the key is wrong or the value was altered"
    )]
    Corrupt(String),
}

struct Key {
    id: String,
    cipher: Aes256Gcm,
}

/// Seals and opens secrets (see the module documentation). Cheap to clone behind an `Arc`;
/// `Debug` shows key ids only.
pub struct Sealer {
    /// The first key seals; all of them open.
    keys: Vec<Key>,
}

impl fmt::Debug for Sealer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Sealer")
            .field(
                "key_ids",
                &self.keys.iter().map(|k| k.id.as_str()).collect::<Vec<_>>(),
            )
            .finish()
    }
}

/// A new random key, base64 (what `callsync secrets generate-key` prints).
pub fn generate_key() -> String {
    let key: [u8; 32] = rand::random();
    BASE64.encode(key)
}

impl Sealer {
    /// A sealer over `keys` (base64 of 32 bytes each); the first seals.
    pub fn from_keys<'a>(keys: impl IntoIterator<Item = &'a str>) -> anyhow::Result<Sealer> {
        let mut parsed = Vec::new();
        for (index, text) in keys.into_iter().enumerate() {
            let bytes = BASE64
                .decode(text.trim())
                .map_err(|_| anyhow::anyhow!("secret key #{} is not base64", index + 1))?;
            anyhow::ensure!(
                bytes.len() == 32,
                "secret key #{} is {} bytes; it must be 32 (generate one with `callsync secrets \
                 generate-key`)",
                index + 1,
                bytes.len()
            );
            let id = hex::encode(&Sha256::digest(&bytes)[..4]);
            let cipher = Aes256Gcm::new_from_slice(&bytes)
                .map_err(|_| anyhow::anyhow!("secret key #{} is unusable", index + 1))?;
            parsed.push(Key { id, cipher });
        }
        anyhow::ensure!(!parsed.is_empty(), "no secret key given");
        Ok(Sealer { keys: parsed })
    }

    /// A sealer with a fresh random key that is kept nowhere: for an in-memory database.
    pub fn ephemeral() -> Sealer {
        let bytes: [u8; 32] = rand::random();
        Sealer {
            keys: vec![Key {
                id: hex::encode(&Sha256::digest(bytes)[..4]),
                cipher: Aes256Gcm::new(&bytes.into()),
            }],
        }
    }

    /// The id of the key that seals.
    pub fn key_id(&self) -> &str {
        &self.keys[0].id
    }

    /// Seals `plaintext` under the first key.
    pub fn seal(&self, plaintext: &str) -> String {
        let key = &self.keys[0];
        let nonce_bytes: [u8; 12] = rand::random();
        // Encrypting into a Vec cannot fail for inputs under AES-GCM's 64 GiB bound.
        let ciphertext = key
            .cipher
            .encrypt(&Nonce::from(nonce_bytes), plaintext.as_bytes())
            .unwrap_or_default();
        let mut payload = Vec::with_capacity(12 + ciphertext.len());
        payload.extend_from_slice(&nonce_bytes);
        payload.extend_from_slice(&ciphertext);
        format!("{PREFIX}{}:{}", key.id, BASE64.encode(payload))
    }

    /// Opens a sealed value (or passes through a legacy plain-text one).
    pub fn open(&self, stored: &str) -> Result<SecretString, SecretsError> {
        let Some(rest) = stored.strip_prefix(PREFIX) else {
            return Ok(SecretString::from(stored.to_owned()));
        };
        let (id, payload) = rest
            .split_once(':')
            .ok_or(SecretsError::Malformed("no key id"))?;
        let key = self
            .keys
            .iter()
            .find(|key| key.id == id)
            .ok_or_else(|| SecretsError::UnknownKey(id.to_owned()))?;
        let payload = BASE64
            .decode(payload)
            .map_err(|_| SecretsError::Malformed("not base64"))?;
        if payload.len() < 12 + 16 {
            return Err(SecretsError::Malformed("too short"));
        }
        let (nonce, ciphertext) = payload.split_at(12);
        let nonce: [u8; 12] = nonce
            .try_into()
            .map_err(|_| SecretsError::Malformed("too short"))?;
        let plain = key
            .cipher
            .decrypt(&Nonce::from(nonce), ciphertext)
            .map_err(|_| SecretsError::Corrupt(id.to_owned()))?;
        String::from_utf8(plain)
            .map(SecretString::from)
            .map_err(|_| SecretsError::Malformed("not UTF-8"))
    }

    /// Whether `stored` is sealed under the sealing key already (nothing to reseal).
    pub fn is_current(&self, stored: &str) -> bool {
        stored
            .strip_prefix(PREFIX)
            .and_then(|rest| rest.split_once(':'))
            .is_some_and(|(id, _)| id == self.key_id())
    }

    /// The sealer for `database_url`: from `CALLSYNC_SECRET_KEY`, else the key file
    /// (`CALLSYNC_SECRET_KEY_FILE`, else `key_file`), else the embedded default beside a
    /// SQLite file (created if absent), else an error. See the module documentation.
    pub fn for_database(database_url: &str, key_file: Option<&Path>) -> anyhow::Result<Sealer> {
        if let Ok(keys) = std::env::var(KEY_VARIABLE) {
            return Sealer::from_keys(keys.split(','))
                .with_context(|| format!("invalid {KEY_VARIABLE}"));
        }
        let file = std::env::var_os(KEY_FILE_VARIABLE)
            .map(PathBuf::from)
            .or_else(|| key_file.map(Path::to_path_buf));
        if let Some(file) = file {
            return Sealer::from_file(&file);
        }
        if database_url.starts_with("sqlite:") {
            return match sqlite_file(database_url) {
                Some(database) => {
                    let mut name = database.as_os_str().to_owned();
                    name.push(".key");
                    Sealer::beside_database(Path::new(&name))
                }
                None => Ok(Sealer::ephemeral()),
            };
        }
        anyhow::bail!(
            "no secret key: set {KEY_VARIABLE} (generate one with `callsync secrets \
             generate-key`) or secrets.key_file; a shared database never gets a key generated \
             on one machine"
        )
    }

    /// Reads a key file: one base64 key a line (blank lines and `#` comments skipped), the
    /// first sealing.
    pub fn from_file(path: &Path) -> anyhow::Result<Sealer> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read the secret key file {}", path.display()))?;
        Sealer::from_keys(
            text.lines()
                .map(str::trim)
                .filter(|line| !line.is_empty() && !line.starts_with('#')),
        )
        .with_context(|| format!("invalid secret key file {}", path.display()))
    }

    /// The embedded default: `path`, created with a new key (mode 0600) if absent.
    fn beside_database(path: &Path) -> anyhow::Result<Sealer> {
        if !path.exists() {
            write_private(path, &format!("{}\n", generate_key()))?;
            tracing::warn!(
                file = %path.display(),
                "no secret key configured: generated one beside the SQLite database; back it up \
                 with the database, or set CALLSYNC_SECRET_KEY"
            );
        }
        Sealer::from_file(path)
    }
}

/// The file a `sqlite:` URL names, or `None` for an in-memory database.
fn sqlite_file(url: &str) -> Option<PathBuf> {
    let rest = url.strip_prefix("sqlite:")?;
    let rest = rest.strip_prefix("//").unwrap_or(rest);
    let path = rest.split('?').next().unwrap_or_default();
    if path.is_empty() || path == ":memory:" || url.contains("mode=memory") {
        None
    } else {
        Some(PathBuf::from(path))
    }
}

/// Writes `text` to a new file only its owner can read (mode 0600 on Unix).
fn write_private(path: &Path, text: &str) -> anyhow::Result<()> {
    use std::io::Write as _;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt as _;
        options.mode(0o600);
    }
    let mut file = options
        .open(path)
        .with_context(|| format!("cannot create the secret key file {}", path.display()))?;
    file.write_all(text.as_bytes())
        .with_context(|| format!("cannot write the secret key file {}", path.display()))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use secrecy::ExposeSecret as _;

    #[test]
    fn a_sealed_secret_opens_again_and_shows_nothing_of_itself() {
        let sealer = Sealer::ephemeral();
        let sealed = sealer.seal("whsec_the_real_secret");
        assert!(sealed.starts_with("sealed:v1:"), "{sealed}");
        assert!(!sealed.contains("the_real_secret"), "{sealed}");
        assert_eq!(
            sealer.open(&sealed).unwrap().expose_secret(),
            "whsec_the_real_secret"
        );
        assert_ne!(
            sealer.seal("same"),
            sealer.seal("same"),
            "a fresh nonce each time"
        );
        let debug = format!("{sealer:?}");
        assert!(debug.contains(sealer.key_id()), "{debug}");
    }

    #[test]
    fn a_rotated_key_set_opens_old_values_and_seals_with_the_new_key() {
        let (old, new) = (generate_key(), generate_key());
        let before = Sealer::from_keys([old.as_str()]).unwrap();
        let sealed_before = before.seal("secret");
        let after = Sealer::from_keys([new.as_str(), old.as_str()]).unwrap();
        assert_eq!(
            after.open(&sealed_before).unwrap().expose_secret(),
            "secret"
        );
        assert!(!after.is_current(&sealed_before));
        assert!(after.is_current(&after.seal("secret")));
        let without_old = Sealer::from_keys([new.as_str()]).unwrap();
        assert!(matches!(
            without_old.open(&sealed_before),
            Err(SecretsError::UnknownKey(_))
        ));
    }

    #[test]
    fn an_altered_value_or_a_bad_key_is_refused_with_a_clear_error() {
        let sealer = Sealer::ephemeral();
        let mut sealed = sealer.seal("secret");
        sealed.pop();
        sealed.push('A');
        assert!(sealer.open(&sealed).is_err());
        let error = Sealer::from_keys(["c2hvcnQ="]).unwrap_err();
        assert!(format!("{error:#}").contains("32"), "{error:#}");
        assert_eq!(
            sealer.open("whsec_legacy").unwrap().expose_secret(),
            "whsec_legacy",
            "values stored before sealing still open"
        );
    }

    #[test]
    fn the_embedded_default_key_is_created_beside_the_sqlite_file_readable_by_its_owner_only() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!(
            "sqlite://{}?mode=rwc",
            dir.path().join("db.sqlite").display()
        );
        let first = Sealer::for_database(&url, None).unwrap();
        let key_file = dir.path().join("db.sqlite.key");
        assert!(key_file.exists());
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            let mode = std::fs::metadata(&key_file).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        let second = Sealer::for_database(&url, None).unwrap();
        assert_eq!(
            first.key_id(),
            second.key_id(),
            "the same key on the next start"
        );
        assert!(
            Sealer::for_database("postgres://db/x", None).is_err()
                || std::env::var(KEY_VARIABLE).is_ok()
        );
    }
}
