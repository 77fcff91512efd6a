//! The upload key: AES-256-GCM sealing of medical documents, and the HMAC that signs upload
//! links (derived from the same key, for a different purpose).
//!
//! Owns the key's life: from `LEAFDESK_UPLOAD_KEY` (64 hex characters), else from the key file
//! under the data directory, generated on first start with owner-only permissions. The key
//! never enters the database or the logs.

use std::io::Write as _;
use std::path::Path;

use aes_gcm::aead::{Aead, Payload};
use aes_gcm::{Aes256Gcm, Key, KeyInit, Nonce};
use hmac::{Hmac, Mac};
use sha2::Sha256;

/// 12 bytes: AES-GCM's standard nonce, random per document.
const NONCE_LEN: usize = 12;

#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("LEAFDESK_UPLOAD_KEY must be 64 hex characters (32 bytes); generate one with `openssl rand -hex 32`")]
    BadKey,
    #[error("upload key file {path}: {source}")]
    File { path: String, source: std::io::Error },
    #[error("no randomness available for the upload key: {0}")]
    Random(getrandom::Error),
}

#[derive(Clone)]
pub struct Sealer {
    cipher: Aes256Gcm,
    link_key: [u8; 32],
}

impl std::fmt::Debug for Sealer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Sealer(..)")
    }
}

/// The document could not be opened: a wrong key or altered bytes.
#[derive(Debug, thiserror::Error)]
#[error("the sealed document does not open with this key (altered, or sealed under another key)")]
pub struct OpenError;

impl Sealer {
    pub fn from_key(key: &[u8; 32]) -> Self {
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(key).expect("HMAC takes any key");
        mac.update(b"leafdesk upload links v1");
        let link_key: [u8; 32] = mac.finalize().into_bytes().into();
        Self { cipher: Aes256Gcm::new(Key::<Aes256Gcm>::from_slice(key)), link_key }
    }

    /// The configured key, or the key file's, creating the file (mode 0600) if absent.
    ///
    /// # Errors
    /// A malformed configured key, an unreadable or unwritable key file, no randomness.
    pub fn load_or_create(configured: Option<&str>, file: &Path) -> Result<Self, KeyError> {
        if let Some(hex_key) = configured {
            return Ok(Self::from_key(&parse_key(hex_key)?));
        }
        let io = |source| KeyError::File { path: file.display().to_string(), source };
        match std::fs::read_to_string(file) {
            Ok(text) => Ok(Self::from_key(&parse_key(&text)?)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let mut key = [0u8; 32];
                getrandom::fill(&mut key).map_err(KeyError::Random)?;
                if let Some(dir) = file.parent() {
                    std::fs::create_dir_all(dir).map_err(io)?;
                }
                let mut options = std::fs::OpenOptions::new();
                options.write(true).create_new(true);
                #[cfg(unix)]
                std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
                let mut f = options.open(file).map_err(io)?;
                f.write_all(hex::encode(key).as_bytes()).map_err(io)?;
                tracing::info!(path = %file.display(), "generated the upload encryption key (keep it safe and backed up)");
                Ok(Self::from_key(&key))
            }
            Err(e) => Err(io(e)),
        }
    }

    /// Nonce, then ciphertext and tag. `context` (the upload's id) is bound in as associated
    /// data, so a sealed document cannot be passed off as another.
    pub fn seal(&self, context: &str, plain: &[u8]) -> Vec<u8> {
        let mut nonce = [0u8; NONCE_LEN];
        getrandom::fill(&mut nonce).expect("the OS has randomness (checked when the key was loaded)");
        let sealed = self
            .cipher
            .encrypt(Nonce::from_slice(&nonce), Payload { msg: plain, aad: context.as_bytes() })
            .expect("AES-GCM seals any document under 64 GiB");
        [nonce.as_slice(), &sealed].concat()
    }

    /// # Errors
    /// `OpenError` for a wrong key, a wrong context or altered bytes.
    pub fn open(&self, context: &str, sealed: &[u8]) -> Result<Vec<u8>, OpenError> {
        if sealed.len() < NONCE_LEN {
            return Err(OpenError);
        }
        let (nonce, body) = sealed.split_at(NONCE_LEN);
        self.cipher
            .decrypt(Nonce::from_slice(nonce), Payload { msg: body, aad: context.as_bytes() })
            .map_err(|_| OpenError)
    }

    /// `{id}.{signature}`: the token a link carries.
    pub fn sign_token(&self, token_id: &str) -> String {
        format!("{token_id}.{}", hex::encode(self.link_mac(token_id)))
    }

    /// The token's id, if its signature is ours.
    pub fn verify_token<'t>(&self, token: &'t str) -> Option<&'t str> {
        let (id, sig) = token.split_once('.')?;
        let sig = hex::decode(sig).ok()?;
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(&self.link_key).expect("HMAC takes any key");
        mac.update(id.as_bytes());
        mac.verify_truncated_left(&sig).ok().filter(|()| sig.len() == 16).map(|()| id)
    }

    fn link_mac(&self, token_id: &str) -> [u8; 16] {
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(&self.link_key).expect("HMAC takes any key");
        mac.update(token_id.as_bytes());
        let full = mac.finalize().into_bytes();
        let mut out = [0u8; 16];
        out.copy_from_slice(&full[..16]);
        out
    }
}

fn parse_key(text: &str) -> Result<[u8; 32], KeyError> {
    let bytes = hex::decode(text.trim()).map_err(|_| KeyError::BadKey)?;
    bytes.try_into().map_err(|_| KeyError::BadKey)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sealed_document_opens_only_with_its_key_and_context() {
        let sealer = Sealer::from_key(&[7; 32]);
        let sealed = sealer.seal("up-1", b"%PDF-1.7 recommendation");
        assert!(!sealed.windows(8).any(|w| w == b"%PDF-1.7"), "plaintext must not show");
        assert_eq!(sealer.open("up-1", &sealed).unwrap(), b"%PDF-1.7 recommendation");
        assert!(sealer.open("up-2", &sealed).is_err(), "another upload's context");
        assert!(Sealer::from_key(&[8; 32]).open("up-1", &sealed).is_err(), "another key");
        let mut altered = sealed.clone();
        *altered.last_mut().unwrap() ^= 1;
        assert!(sealer.open("up-1", &altered).is_err(), "altered bytes");
    }

    #[test]
    fn link_tokens_verify_and_tampered_ones_do_not() {
        let sealer = Sealer::from_key(&[7; 32]);
        let token = sealer.sign_token("abc123");
        assert_eq!(sealer.verify_token(&token), Some("abc123"));
        let (_, sig) = token.split_once('.').unwrap();
        for bad in [format!("abc124.{sig}"), "abc123".into(), "abc123.00".into(), format!("abc123.{sig}00")] {
            assert_eq!(sealer.verify_token(&bad), None, "{bad}");
        }
        assert_eq!(Sealer::from_key(&[9; 32]).verify_token(&token), None);
    }

    #[test]
    fn the_key_file_is_created_owner_only_and_reused() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("keys/upload.key");
        let first = Sealer::load_or_create(None, &file).unwrap();
        let sealed = first.seal("u", b"doc");
        let again = Sealer::load_or_create(None, &file).unwrap();
        assert_eq!(again.open("u", &sealed).unwrap(), b"doc");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            assert_eq!(std::fs::metadata(&file).unwrap().permissions().mode() & 0o777, 0o600);
        }
        assert!(matches!(Sealer::load_or_create(Some("beef"), &file), Err(KeyError::BadKey)));
    }
}
