//! AES-256-GCM for templates and small secrets, with the subject bound in as associated data.

use crate::keys::StoreKey;
use aes_gcm::aead::{Aead, AeadCore, KeyInit, OsRng, Payload};
use aes_gcm::{Aes256Gcm, Key, Nonce};

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
}

/// The plaintext of the key check: a store opens only with the key that sealed it.
pub(crate) const KEY_CHECK: &[u8] = b"visage store key check v1";

pub(crate) fn split(sealed: &[u8]) -> Option<(&[u8], &[u8])> {
    (sealed.len() > 12).then(|| sealed.split_at(12))
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
