//! JSON Web Tokens from an identity provider, as Mercure takes them: the
//! token names its `sub`, its `role` and, optionally, the `agents` it may act
//! on; `exp` and our audience (`aud`) are required, `nbf` is honoured.

use super::{AgentScope, Identity, Role};
use jsonwebtoken::{Algorithm, DecodingKey, Validation, decode};
use serde::Deserialize;

/// How to check a token's signature and claims.
pub struct JwtVerifier {
    key: DecodingKey,
    validation: Validation,
}

#[derive(Debug, thiserror::Error)]
pub enum JwtConfigError {
    #[error("ESPRIT_JWT_PUBLIC_KEY_FILE {path}: {message}")]
    Key { path: String, message: String },
}

#[derive(Deserialize)]
struct Claims {
    sub: String,
    role: String,
    #[serde(default)]
    agents: Option<Vec<String>>,
    exp: u64,
}

/// A verified token: who, and until when (seconds since the epoch).
#[derive(Debug, Clone, PartialEq)]
pub struct Verified {
    pub identity: Identity,
    pub expires: u64,
}

impl JwtVerifier {
    /// HS256 with a shared secret.
    pub fn shared_secret(secret: &[u8], issuer: Option<&str>, audience: &str) -> JwtVerifier {
        JwtVerifier::new(
            DecodingKey::from_secret(secret),
            &[Algorithm::HS256],
            issuer,
            audience,
        )
    }

    /// RS256/ES256/EdDSA with a PEM public key file.
    pub fn public_key(
        path: &std::path::Path,
        issuer: Option<&str>,
        audience: &str,
    ) -> Result<JwtVerifier, JwtConfigError> {
        let error = |message: String| JwtConfigError::Key {
            path: path.display().to_string(),
            message,
        };
        let pem = std::fs::read(path).map_err(|e| error(e.to_string()))?;
        let (key, algorithms) = if let Ok(key) = DecodingKey::from_rsa_pem(&pem) {
            (
                key,
                vec![Algorithm::RS256, Algorithm::RS384, Algorithm::RS512],
            )
        } else if let Ok(key) = DecodingKey::from_ec_pem(&pem) {
            (key, vec![Algorithm::ES256, Algorithm::ES384])
        } else if let Ok(key) = DecodingKey::from_ed_pem(&pem) {
            (key, vec![Algorithm::EdDSA])
        } else {
            return Err(error(
                "not an RSA, EC or Ed25519 public key in PEM form".into(),
            ));
        };
        Ok(JwtVerifier::new(key, &algorithms, issuer, audience))
    }

    fn new(
        key: DecodingKey,
        algorithms: &[Algorithm],
        issuer: Option<&str>,
        audience: &str,
    ) -> JwtVerifier {
        super::install_jwt_crypto();
        let mut validation = Validation::new(algorithms[0]);
        validation.algorithms = algorithms.to_vec();
        validation.set_required_spec_claims(&["exp", "sub", "aud"]);
        validation.set_audience(&[audience]);
        validation.validate_nbf = true;
        if let Some(issuer) = issuer {
            validation.set_issuer(&[issuer]);
            validation.required_spec_claims.insert("iss".into());
        }
        JwtVerifier { key, validation }
    }

    /// The identity a valid token names; `None` for anything else.
    pub fn verify(&self, token: &str) -> Option<Verified> {
        if token.split('.').count() != 3 {
            return None;
        }
        let claims = decode::<Claims>(token, &self.key, &self.validation)
            .map_err(|e| tracing::debug!(error = %e, "JWT refused"))
            .ok()?
            .claims;
        let role: Role = claims.role.parse().ok()?;
        if !protocol::is_valid_id(&claims.sub) {
            tracing::debug!("JWT refused: `sub` is not a name (1-64 of a-z A-Z 0-9 _ -)");
            return None;
        }
        Some(Verified {
            identity: Identity {
                subject: claims.sub,
                role,
                agents: claims.agents.map_or(AgentScope::All, AgentScope::Only),
            },
            expires: claims.exp,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use jsonwebtoken::{EncodingKey, Header, encode};
    use serde_json::json;

    fn token(claims: serde_json::Value, secret: &[u8]) -> String {
        crate::auth::install_jwt_crypto();
        encode(
            &Header::default(),
            &claims,
            &EncodingKey::from_secret(secret),
        )
        .unwrap()
    }

    fn in_an_hour() -> u64 {
        jsonwebtoken::get_current_timestamp() + 3600
    }

    #[test]
    fn a_signed_token_names_its_person_role_and_agents() {
        let verifier = JwtVerifier::shared_secret(b"k3y", Some("idp"), "office");
        let verified = verifier
            .verify(&token(
                json!({"sub": "alice", "role": "operator", "agents": ["deploy*"], "exp": in_an_hour(), "iss": "idp", "aud": "office"}),
                b"k3y",
            ))
            .unwrap();
        assert_eq!(verified.identity.subject, "alice");
        assert_eq!(verified.identity.role, Role::Operator);
        assert!(verified.identity.agents.allows("deployer"));
        assert!(!verified.identity.agents.allows("mailops"));
    }

    #[test]
    fn forged_expired_or_odd_tokens_are_refused() {
        let verifier = JwtVerifier::shared_secret(b"k3y", None, "office");
        let good = json!({"sub": "alice", "role": "viewer", "exp": in_an_hour(), "aud": "office"});
        assert!(
            verifier.verify(&token(good.clone(), b"other")).is_none(),
            "wrong key"
        );
        let expired = json!({"sub": "alice", "role": "viewer", "exp": 1_000_000, "aud": "office"});
        assert!(
            verifier.verify(&token(expired, b"k3y")).is_none(),
            "expired"
        );
        let no_exp = json!({"sub": "alice", "role": "viewer", "aud": "office"});
        assert!(
            verifier.verify(&token(no_exp, b"k3y")).is_none(),
            "exp required"
        );
        let wizard =
            json!({"sub": "alice", "role": "wizard", "exp": in_an_hour(), "aud": "office"});
        assert!(
            verifier.verify(&token(wizard, b"k3y")).is_none(),
            "unknown role"
        );
        let odd_name =
            json!({"sub": "al ice\n", "role": "viewer", "exp": in_an_hour(), "aud": "office"});
        assert!(
            verifier.verify(&token(odd_name, b"k3y")).is_none(),
            "names are ids"
        );
        assert!(verifier.verify("not-a-jwt").is_none());
        let elsewhere =
            json!({"sub": "alice", "role": "viewer", "exp": in_an_hour(), "aud": "billing"});
        assert!(
            verifier.verify(&token(elsewhere, b"k3y")).is_none(),
            "another service's audience"
        );
        let no_aud = json!({"sub": "alice", "role": "viewer", "exp": in_an_hour()});
        assert!(
            verifier.verify(&token(no_aud, b"k3y")).is_none(),
            "aud required"
        );
        let early = json!({"sub": "alice", "role": "viewer", "exp": in_an_hour(), "aud": "office",
            "nbf": jsonwebtoken::get_current_timestamp() + 1800});
        assert!(
            verifier.verify(&token(early, b"k3y")).is_none(),
            "not before"
        );
        assert!(verifier.verify(&token(good, b"k3y")).is_some());
    }

    fn key_file(name: &str) -> std::path::PathBuf {
        std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/keys")
            .join(name)
    }

    /// A token signed with the private half of `keys/<name>.pem`.
    fn signed_with(name: &str, algorithm: Algorithm, claims: &serde_json::Value) -> String {
        crate::auth::install_jwt_crypto();
        let pem = std::fs::read(key_file(&format!("{name}.pem"))).unwrap();
        let key = match name {
            "rsa" => EncodingKey::from_rsa_pem(&pem),
            "ed25519" => EncodingKey::from_ed_pem(&pem),
            _ => EncodingKey::from_ec_pem(&pem),
        }
        .unwrap();
        encode(&Header::new(algorithm), claims, &key).unwrap()
    }

    fn public_key_verifier(name: &str) -> JwtVerifier {
        JwtVerifier::public_key(&key_file(&format!("{name}.pub.pem")), None, "office").unwrap()
    }

    #[test]
    fn identity_provider_keys_of_every_kind_verify_their_tokens() {
        let claims = json!({"sub": "bob", "role": "viewer", "exp": in_an_hour(), "aud": "office"});
        for (name, algorithm) in [
            ("rsa", Algorithm::RS256),
            ("rsa", Algorithm::RS384),
            ("rsa", Algorithm::RS512),
            ("ec256", Algorithm::ES256),
            ("ec384", Algorithm::ES384),
            ("ed25519", Algorithm::EdDSA),
        ] {
            let verifier = public_key_verifier(name);
            let token = signed_with(name, algorithm, &claims);
            let verified = verifier.verify(&token);
            assert_eq!(
                verified.map(|v| v.identity.subject).as_deref(),
                Some("bob"),
                "{name} {algorithm:?}"
            );
            // One changed signature byte, and the token is refused.
            let (message, signature) = token.rsplit_once('.').unwrap();
            let mut signature = signature.as_bytes().to_vec();
            signature[5] = if signature[5] == b'A' { b'B' } else { b'A' };
            let forged = format!("{message}.{}", String::from_utf8(signature).unwrap());
            assert!(
                verifier.verify(&forged).is_none(),
                "{name} {algorithm:?} forged"
            );
        }
    }

    #[test]
    fn a_token_from_another_key_or_algorithm_is_refused() {
        let claims = json!({"sub": "bob", "role": "viewer", "exp": in_an_hour(), "aud": "office"});
        let rsa = public_key_verifier("rsa");
        for (name, algorithm) in [("ec256", Algorithm::ES256), ("ed25519", Algorithm::EdDSA)] {
            let token = signed_with(name, algorithm, &claims);
            assert!(rsa.verify(&token).is_none(), "{name} token, RSA key");
        }
        // A P-384 signature checked with a P-256 key (both ES algorithms allowed).
        let ec256 = public_key_verifier("ec256");
        assert!(
            ec256
                .verify(&signed_with("ec384", Algorithm::ES384, &claims))
                .is_none()
        );
        // The classic confusion: HS256 keyed with the RSA public key's own PEM.
        let public_pem = std::fs::read(key_file("rsa.pub.pem")).unwrap();
        assert!(
            rsa.verify(&token(claims, &public_pem)).is_none(),
            "HS256 with the public key"
        );
    }

    #[test]
    fn rsa_keys_given_as_jwk_parameters_are_refused_as_a_format() {
        let claims = json!({"sub": "bob", "role": "viewer", "exp": in_an_hour(), "aud": "office"});
        let token = signed_with("rsa", Algorithm::RS256, &claims);
        let key = DecodingKey::from_rsa_components("AQAB", "AQAB").unwrap();
        let error = decode::<serde_json::Value>(&token, &key, &Validation::new(Algorithm::RS256))
            .unwrap_err();
        assert_eq!(
            error.kind(),
            &jsonwebtoken::errors::ErrorKind::InvalidKeyFormat
        );
    }

    #[test]
    fn a_key_file_that_is_no_public_key_is_named_in_the_error() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("idp.pem");
        std::fs::write(
            &path,
            "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n",
        )
        .unwrap();
        let Err(error) = JwtVerifier::public_key(&path, None, "office") else {
            panic!("a certificate is not a public key");
        };
        let message = error.to_string();
        assert!(
            message.contains("idp.pem") && message.contains("not an RSA, EC or Ed25519"),
            "{message}"
        );
    }
}
