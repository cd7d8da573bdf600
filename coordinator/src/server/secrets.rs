//! Registry credentials at rest: sealed with XChaCha20-Poly1305 under a key
//! from `FERRY_SECRET_KEY` (base64 of 32 bytes) or the data directory's
//! `secret.key`, generated on first start when neither exists.

use std::path::Path;

use base64::Engine as _;
use chacha20poly1305::aead::{Aead, AeadCore, KeyInit, OsRng};
use chacha20poly1305::{Key, XChaCha20Poly1305, XNonce};

const NONCE: usize = 24;

pub struct Sealer {
    cipher: XChaCha20Poly1305,
}

impl std::fmt::Debug for Sealer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Sealer(***)")
    }
}

impl Sealer {
    /// The key from the environment, else from `<data_dir>/secret.key`,
    /// else a new one written there (mode 0600) with a warning.
    pub fn load(data_dir: &Path) -> anyhow::Result<Self> {
        if let Ok(b64) = std::env::var("FERRY_SECRET_KEY") {
            let bytes = base64::engine::general_purpose::STANDARD
                .decode(b64.trim())
                .map_err(|e| anyhow::anyhow!("FERRY_SECRET_KEY is not base64: {e}"))?;
            return Self::from_bytes(&bytes).map_err(|e| anyhow::anyhow!("FERRY_SECRET_KEY: {e}"));
        }
        let path = data_dir.join("secret.key");
        match std::fs::read(&path) {
            Ok(bytes) => {
                Self::from_bytes(&bytes).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let key = XChaCha20Poly1305::generate_key(&mut OsRng);
                super::files::write_private(&path, key.as_slice())?;
                tracing::warn!(
                    "generated a new credential encryption key in {}; back it up (or set FERRY_SECRET_KEY): \
                     stored registry credentials cannot be read without it",
                    path.display()
                );
                Self::from_bytes(key.as_slice()).map_err(anyhow::Error::msg)
            }
            Err(e) => Err(anyhow::anyhow!("reading {}: {e}", path.display())),
        }
    }

    pub fn from_bytes(key: &[u8]) -> Result<Self, String> {
        if key.len() != 32 {
            return Err(format!("a key is 32 bytes, not {}", key.len()));
        }
        Ok(Self {
            cipher: XChaCha20Poly1305::new(Key::from_slice(key)),
        })
    }

    /// nonce || ciphertext+tag.
    pub fn seal(&self, plain: &[u8]) -> Vec<u8> {
        let nonce = XChaCha20Poly1305::generate_nonce(&mut OsRng);
        let mut out = nonce.to_vec();
        out.extend(
            self.cipher
                .encrypt(&nonce, plain)
                .expect("XChaCha20-Poly1305 encryption cannot fail"),
        );
        out
    }

    pub fn open(&self, sealed: &[u8]) -> Result<Vec<u8>, String> {
        if sealed.len() < NONCE {
            return Err("sealed credential is truncated".into());
        }
        let (nonce, body) = sealed.split_at(NONCE);
        self.cipher
            .decrypt(XNonce::from_slice(nonce), body)
            .map_err(|_| "cannot decrypt a stored credential: was the secret key changed?".into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seals_and_opens_and_detects_tampering() {
        let s = Sealer::from_bytes(&[7u8; 32]).unwrap();
        let sealed = s.seal(b"alice\0secret");
        assert!(!sealed.windows(6).any(|w| w == b"secret"));
        assert_eq!(s.open(&sealed).unwrap(), b"alice\0secret");
        let mut bad = sealed.clone();
        *bad.last_mut().unwrap() ^= 1;
        assert!(s.open(&bad).is_err());
        assert!(
            Sealer::from_bytes(&[1u8; 32])
                .unwrap()
                .open(&sealed)
                .is_err()
        );
        assert!(Sealer::from_bytes(&[0u8; 3]).is_err());
    }
}
