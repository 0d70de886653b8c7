//! The one JWT algorithm we use, HS256, as jsonwebtoken's crypto provider. Its `rust_crypto`
//! provider links RSA, ECDSA and EdDSA as well (532 KB of the stripped binary: bignum and curve
//! code) because it picks the algorithm at run time; this one has nothing else to offer. A
//! token naming another algorithm is refused by `Validation` before any provider is asked.

use hmac::{Hmac, Mac};
use jsonwebtoken::{
    Algorithm, AlgorithmFamily, DecodingKey, EncodingKey,
    crypto::{CryptoProvider, JwtSigner, JwtVerifier, KeyUtils},
    errors::{ErrorKind, Result},
    signature::{self, Signer, Verifier},
};
use sha2::Sha256;

type HmacSha256 = Hmac<Sha256>;

/// Without JWKs: `KeyUtils` only serve JWK thumbprints and public-key parameters.
static PROVIDER: CryptoProvider =
    CryptoProvider { signer_factory: signer, verifier_factory: verifier, key_utils: KeyUtils::new_unimplemented() };

/// Makes HS256 jsonwebtoken's provider for the process; every later call does nothing.
pub fn install() {
    // An error only says a provider is installed already, and this is the only one we have.
    let _ = PROVIDER.install_default();
}

fn hs256(algorithm: &Algorithm, family: AlgorithmFamily, secret: Result<&[u8]>) -> Result<HmacSha256> {
    if *algorithm != Algorithm::HS256 {
        return Err(ErrorKind::InvalidAlgorithm.into());
    }
    // A public or private key (RSA, EC) is no HMAC secret, whatever its bytes.
    if family != AlgorithmFamily::Hmac {
        return Err(ErrorKind::InvalidKeyFormat.into());
    }
    HmacSha256::new_from_slice(secret?).map_err(|_| ErrorKind::InvalidKeyFormat.into())
}

fn signer(algorithm: &Algorithm, key: &EncodingKey) -> Result<Box<dyn JwtSigner>> {
    Ok(Box::new(Hs256(hs256(algorithm, key.family(), Ok(key.as_bytes()))?)))
}

fn verifier(algorithm: &Algorithm, key: &DecodingKey) -> Result<Box<dyn JwtVerifier>> {
    Ok(Box::new(Hs256(hs256(algorithm, key.family(), key.try_get_as_bytes())?)))
}

/// The keyed MAC, cloned for each message.
struct Hs256(HmacSha256);

impl Signer<Vec<u8>> for Hs256 {
    fn try_sign(&self, message: &[u8]) -> std::result::Result<Vec<u8>, signature::Error> {
        let mut mac = self.0.clone();
        mac.update(message);
        Ok(mac.finalize().into_bytes().to_vec())
    }
}

impl Verifier<Vec<u8>> for Hs256 {
    fn verify(&self, message: &[u8], tag: &Vec<u8>) -> std::result::Result<(), signature::Error> {
        let mut mac = self.0.clone();
        mac.update(message);
        // Constant time: how much of a forged tag matches must not show in the timing.
        mac.verify_slice(tag).map_err(|_| signature::Error::new())
    }
}

impl JwtSigner for Hs256 {
    fn algorithm(&self) -> Algorithm {
        Algorithm::HS256
    }
}

impl JwtVerifier for Hs256 {
    fn algorithm(&self) -> Algorithm {
        Algorithm::HS256
    }
}

#[cfg(test)]
mod tests {
    use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, crypto};

    /// RFC 7515, appendix A.1: the HS256 example's key (padded, as jsonwebtoken decodes it),
    /// signing input and signature.
    const KEY: &str = "AyM1SysPpbyDfgZld3umj1qzKObwVMkoqQ-EstJQLr_T-1qS0gZH75aKtMN3Yj0iPS4hcgUuTwjAzZr1Z9CAow==";
    const INPUT: &str = "eyJ0eXAiOiJKV1QiLA0KICJhbGciOiJIUzI1NiJ9.eyJpc3MiOiJqb2UiLA0KICJleHAiOjEzMDA4MTkzODAsDQogImh0dHA6Ly9leGFtcGxlLmNvbS9pc19yb290Ijp0cnVlfQ";
    const SIGNATURE: &str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";

    #[test]
    fn signs_and_verifies_the_rfc_7515_example() {
        super::install();
        let encoding = EncodingKey::from_urlsafe_base64_secret(KEY).unwrap();
        let decoding = DecodingKey::from_secret(encoding.as_bytes());
        assert_eq!(crypto::sign(INPUT.as_bytes(), &encoding, Algorithm::HS256).unwrap(), SIGNATURE);
        assert!(crypto::verify(SIGNATURE, INPUT.as_bytes(), &decoding, Algorithm::HS256).unwrap());
        let mut tampered = INPUT.to_owned();
        tampered.push('x');
        assert!(!crypto::verify(SIGNATURE, tampered.as_bytes(), &decoding, Algorithm::HS256).unwrap());
    }

    #[test]
    fn refuses_every_other_algorithm_and_key_kind() {
        super::install();
        let secret = EncodingKey::from_secret(b"a secret");
        for algorithm in [Algorithm::HS384, Algorithm::HS512, Algorithm::RS256, Algorithm::ES256, Algorithm::EdDSA] {
            assert!(crypto::sign(b"message", &secret, algorithm).is_err(), "{algorithm:?}");
        }
        let not_a_secret = EncodingKey::from_rsa_der(b"any bytes");
        assert!(crypto::sign(b"message", &not_a_secret, Algorithm::HS256).is_err());
    }
}
