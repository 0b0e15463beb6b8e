//! jsonwebtoken's signatures on ring, the crypto library rustls already
//! brings: one implementation of RSA, ECDSA, Ed25519 and HMAC in the binary
//! instead of two. RustCrypto's (`rsa`, `p256`, `p384`, `ed25519-dalek` and
//! 26 crates under them) took 19 CPU-seconds of the release build.
//! jsonwebtoken parses and validates the token; ring only checks and makes
//! signatures.

use jsonwebtoken::crypto::{CryptoProvider, JwtSigner, JwtVerifier, KeyUtils};
use jsonwebtoken::errors::{Error, ErrorKind};
use jsonwebtoken::jwk::ThumbprintHash;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, signature};
use ring::rand::SystemRandom;
use ring::signature as sig;
use ring::{digest, hmac};

static RING: CryptoProvider = CryptoProvider {
    signer_factory: signer,
    verifier_factory: verifier,
    key_utils: KeyUtils {
        rsa_pub_components_from_private_key: |_| Err(no_jwk()),
        rsa_pub_components_from_public_key: |_| Err(no_jwk()),
        ec_pub_components_from_private_key: |_, _| Err(no_jwk()),
        ed_pub_components_from_private_key: |_, _| Err(no_jwk()),
        compute_digest,
    },
};

/// Makes ring this process's provider for jsonwebtoken (once; later calls
/// change nothing). Every token is checked through [`super::jwt::JwtVerifier`],
/// which calls this first; tests that sign tokens call it too.
pub fn install() {
    // Err means a provider is already installed: this one, by an earlier call.
    let _ = RING.install_default();
}

/// The gateway checks tokens; it derives no JWKs from keys.
fn no_jwk() -> Error {
    ErrorKind::Provider("deriving JWK parameters from a key is not supported".into()).into()
}

fn compute_digest(data: &[u8], hash: ThumbprintHash) -> Result<Vec<u8>, Error> {
    let algorithm = match hash {
        ThumbprintHash::SHA256 => &digest::SHA256,
        ThumbprintHash::SHA384 => &digest::SHA384,
        ThumbprintHash::SHA512 => &digest::SHA512,
        _ => return Err(ErrorKind::Provider("unknown thumbprint hash".into()).into()),
    };
    Ok(digest::digest(algorithm, data).as_ref().to_vec())
}

fn hmac_algorithm(algorithm: Algorithm) -> Option<hmac::Algorithm> {
    match algorithm {
        Algorithm::HS256 => Some(hmac::HMAC_SHA256),
        Algorithm::HS384 => Some(hmac::HMAC_SHA384),
        Algorithm::HS512 => Some(hmac::HMAC_SHA512),
        _ => None,
    }
}

/// A key that checks one algorithm's signatures.
struct Checker {
    algorithm: Algorithm,
    key: PublicKey,
}

enum PublicKey {
    Hmac(hmac::Key),
    /// DER (RSA), an uncompressed point (ECDSA) or 32 bytes (Ed25519), as
    /// jsonwebtoken reads them from PEM. Keys given as JWK parameters (RSA's
    /// modulus and exponent) are refused: the gateway reads PEM files only.
    Encoded(&'static dyn sig::VerificationAlgorithm, Vec<u8>),
}

fn verifier(algorithm: &Algorithm, key: &DecodingKey) -> Result<Box<dyn JwtVerifier>, Error> {
    let algorithm = *algorithm;
    if key.family() != algorithm.family() {
        return Err(ErrorKind::InvalidKeyFormat.into());
    }
    let key = if let Some(hmac) = hmac_algorithm(algorithm) {
        PublicKey::Hmac(hmac::Key::new(hmac, key.try_get_as_bytes()?))
    } else {
        PublicKey::Encoded(
            public_algorithm(algorithm)?,
            key.try_get_as_bytes()?.to_vec(),
        )
    };
    Ok(Box::new(Checker { algorithm, key }))
}

fn public_algorithm(
    algorithm: Algorithm,
) -> Result<&'static dyn sig::VerificationAlgorithm, Error> {
    Ok(match algorithm {
        Algorithm::RS256 => &sig::RSA_PKCS1_2048_8192_SHA256,
        Algorithm::RS384 => &sig::RSA_PKCS1_2048_8192_SHA384,
        Algorithm::RS512 => &sig::RSA_PKCS1_2048_8192_SHA512,
        Algorithm::PS256 => &sig::RSA_PSS_2048_8192_SHA256,
        Algorithm::PS384 => &sig::RSA_PSS_2048_8192_SHA384,
        Algorithm::PS512 => &sig::RSA_PSS_2048_8192_SHA512,
        Algorithm::ES256 => &sig::ECDSA_P256_SHA256_FIXED,
        Algorithm::ES384 => &sig::ECDSA_P384_SHA384_FIXED,
        Algorithm::EdDSA => &sig::ED25519,
        _ => return Err(ErrorKind::InvalidAlgorithm.into()),
    })
}

impl signature::Verifier<Vec<u8>> for Checker {
    fn verify(&self, message: &[u8], signature: &Vec<u8>) -> Result<(), signature::Error> {
        let checked = match &self.key {
            PublicKey::Hmac(key) => hmac::verify(key, message, signature),
            PublicKey::Encoded(algorithm, encoded) => {
                sig::UnparsedPublicKey::new(*algorithm, encoded).verify(message, signature)
            }
        };
        checked.map_err(|_| signature::Error::new())
    }
}

impl JwtVerifier for Checker {
    fn algorithm(&self) -> Algorithm {
        self.algorithm
    }
}

/// A key that makes one algorithm's signatures (the tests' tokens).
struct Maker {
    algorithm: Algorithm,
    key: PrivateKey,
}

enum PrivateKey {
    Hmac(hmac::Key),
    Rsa(sig::RsaKeyPair, &'static dyn sig::RsaEncoding),
    Ecdsa(sig::EcdsaKeyPair),
    Ed25519(sig::Ed25519KeyPair),
}

fn signer(algorithm: &Algorithm, key: &EncodingKey) -> Result<Box<dyn JwtSigner>, Error> {
    let algorithm = *algorithm;
    if key.family() != algorithm.family() {
        return Err(ErrorKind::InvalidKeyFormat.into());
    }
    let bytes = key.as_bytes();
    let rsa = |encoding: &'static dyn sig::RsaEncoding| {
        sig::RsaKeyPair::from_der(bytes)
            .map(|pair| PrivateKey::Rsa(pair, encoding))
            .map_err(|e| Error::from(ErrorKind::InvalidRsaKey(e.to_string())))
    };
    let ecdsa = |curve: &'static sig::EcdsaSigningAlgorithm| {
        sig::EcdsaKeyPair::from_pkcs8(curve, bytes, &SystemRandom::new())
            .map(PrivateKey::Ecdsa)
            .map_err(|_| Error::from(ErrorKind::InvalidEcdsaKey))
    };
    if let Some(hmac) = hmac_algorithm(algorithm) {
        let key = PrivateKey::Hmac(hmac::Key::new(hmac, bytes));
        return Ok(Box::new(Maker { algorithm, key }));
    }
    let key = match algorithm {
        Algorithm::RS256 => rsa(&sig::RSA_PKCS1_SHA256)?,
        Algorithm::RS384 => rsa(&sig::RSA_PKCS1_SHA384)?,
        Algorithm::RS512 => rsa(&sig::RSA_PKCS1_SHA512)?,
        Algorithm::PS256 => rsa(&sig::RSA_PSS_SHA256)?,
        Algorithm::PS384 => rsa(&sig::RSA_PSS_SHA384)?,
        Algorithm::PS512 => rsa(&sig::RSA_PSS_SHA512)?,
        Algorithm::ES256 => ecdsa(&sig::ECDSA_P256_SHA256_FIXED_SIGNING)?,
        Algorithm::ES384 => ecdsa(&sig::ECDSA_P384_SHA384_FIXED_SIGNING)?,
        // OpenSSL writes Ed25519 keys without their public half (PKCS#8 v1).
        Algorithm::EdDSA => sig::Ed25519KeyPair::from_pkcs8_maybe_unchecked(bytes)
            .map(PrivateKey::Ed25519)
            .map_err(|_| Error::from(ErrorKind::InvalidEddsaKey))?,
        _ => return Err(ErrorKind::InvalidAlgorithm.into()),
    };
    Ok(Box::new(Maker { algorithm, key }))
}

impl signature::Signer<Vec<u8>> for Maker {
    fn try_sign(&self, message: &[u8]) -> Result<Vec<u8>, signature::Error> {
        let failed = |_| signature::Error::new();
        Ok(match &self.key {
            PrivateKey::Hmac(key) => hmac::sign(key, message).as_ref().to_vec(),
            PrivateKey::Rsa(pair, encoding) => {
                let mut signature = vec![0; pair.public().modulus_len()];
                pair.sign(*encoding, &SystemRandom::new(), message, &mut signature)
                    .map_err(failed)?;
                signature
            }
            PrivateKey::Ecdsa(pair) => pair
                .sign(&SystemRandom::new(), message)
                .map_err(failed)?
                .as_ref()
                .to_vec(),
            PrivateKey::Ed25519(pair) => pair.sign(message).as_ref().to_vec(),
        })
    }
}

impl JwtSigner for Maker {
    fn algorithm(&self) -> Algorithm {
        self.algorithm
    }
}
