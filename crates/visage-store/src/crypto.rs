//! AES-256-GCM for templates and small secrets, with the subject bound in as associated data.

use crate::error::StoreError;
use crate::keys::StoreKey;
use aes_gcm::aead::{Aead, AeadCore, KeyInit, OsRng, Payload};
use aes_gcm::{Aes256Gcm, Key, Nonce};
use zeroize::Zeroizing;

/// Encrypts and decrypts under one key.
pub(crate) struct Cipher {
    aead: Aes256Gcm,
}

/// A nonce and a ciphertext (with its tag).
pub(crate) struct Sealed {
    pub nonce: Vec<u8>,
    pub ciphertext: Vec<u8>,
}

impl Cipher {
    /// The cipher for one purpose of the store key.
    pub fn new(key: &StoreKey, purpose: &str) -> Cipher {
        let derived = key.derive(purpose);
        Cipher { aead: Aes256Gcm::new(Key::<Aes256Gcm>::from_slice(derived.as_ref())) }
    }

    /// Encrypts with a fresh random nonce. `aad` is authenticated but not stored: decryption must give
    /// the same, so a template copied to another subject fails to decrypt.
    pub fn seal(&self, plaintext: &[u8], aad: &[u8]) -> Sealed {
        let nonce = Aes256Gcm::generate_nonce(&mut OsRng);
        let ciphertext = self.aead.encrypt(&nonce, Payload { msg: plaintext, aad }).expect("AES-GCM encryption");
        Sealed { nonce: nonce.to_vec(), ciphertext }
    }

    /// Decrypts; `None` if the data, nonce, associated data or key do not match.
    pub fn open(&self, nonce: &[u8], ciphertext: &[u8], aad: &[u8]) -> Option<Vec<u8>> {
        if nonce.len() != 12 {
            return None;
        }
        self.aead.decrypt(Nonce::from_slice(nonce), Payload { msg: ciphertext, aad }).ok()
    }

    /// An embedding sealed, bound to its subject.
    pub fn seal_template(&self, subject_id: &str, embedding: &[f32]) -> Sealed {
        self.seal(&embedding_bytes(embedding), subject_id.as_bytes())
    }

    /// Template `id`'s embedding; [`StoreError::TemplateTampered`] if it was altered or moved to another
    /// subject (or sealed under another key).
    pub fn open_template(
        &self,
        id: i64,
        subject_id: &str,
        nonce: &[u8],
        ciphertext: &[u8],
    ) -> Result<Vec<f32>, StoreError> {
        let plain = Zeroizing::new(
            self.open(nonce, ciphertext, subject_id.as_bytes()).ok_or(StoreError::TemplateTampered(id))?,
        );
        Ok(embedding_from_bytes(&plain))
    }

    /// Template `id` re-sealed under `to` (key rotation), the plaintext wiped after.
    pub fn reseal_template(
        &self,
        to: &Cipher,
        id: i64,
        subject_id: &str,
        nonce: &[u8],
        ciphertext: &[u8],
    ) -> Result<Sealed, StoreError> {
        let plain = Zeroizing::new(
            self.open(nonce, ciphertext, subject_id.as_bytes()).ok_or(StoreError::TemplateTampered(id))?,
        );
        Ok(to.seal(&plain, subject_id.as_bytes()))
    }
}

/// Embedding as little-endian f32 bytes.
pub(crate) fn embedding_bytes(v: &[f32]) -> Vec<u8> {
    v.iter().flat_map(|x| x.to_le_bytes()).collect()
}

pub(crate) fn embedding_from_bytes(b: &[u8]) -> Vec<f32> {
    b.chunks_exact(4).map(|c| f32::from_le_bytes(c.try_into().expect("4 bytes"))).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_binding() {
        let key = StoreKey::generate();
        let c = Cipher::new(&key, "templates");
        let v = vec![0.25f32, -1.5, 3.0];
        let sealed = c.seal(&embedding_bytes(&v), b"alice");
        assert_ne!(sealed.ciphertext[..12], embedding_bytes(&v)[..12]);
        let back = c.open(&sealed.nonce, &sealed.ciphertext, b"alice").unwrap();
        assert_eq!(embedding_from_bytes(&back), v);
        assert!(c.open(&sealed.nonce, &sealed.ciphertext, b"bob").is_none(), "bound to its subject");
        assert!(Cipher::new(&StoreKey::generate(), "templates")
            .open(&sealed.nonce, &sealed.ciphertext, b"alice")
            .is_none());
        assert!(Cipher::new(&key, "other").open(&sealed.nonce, &sealed.ciphertext, b"alice").is_none());
        let mut tampered = sealed.ciphertext.clone();
        tampered[0] ^= 1;
        assert!(c.open(&sealed.nonce, &tampered, b"alice").is_none());
    }
}
