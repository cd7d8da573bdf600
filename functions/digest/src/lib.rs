//! Content digests (`algorithm:encoded`), checked once where they enter, as
//! the OCI image spec defines them for the algorithms Ferry moves. Shared by
//! the host and the stage functions, so both read a digest the same way.

use std::fmt;
use std::str::FromStr;

/// A digest algorithm Ferry accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Algorithm {
    Sha256,
    Sha512,
}

impl Algorithm {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Sha256 => "sha256",
            Self::Sha512 => "sha512",
        }
    }

    /// Lowercase hex digits in an encoded digest.
    pub fn hex_len(self) -> usize {
        match self {
            Self::Sha256 => 64,
            Self::Sha512 => 128,
        }
    }
}

/// A valid digest, e.g. `sha256:` and 64 lowercase hex digits: safe in a
/// URL path and comparable as text.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Digest(String);

/// Why a text is not a digest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DigestError(String);

impl fmt::Display for DigestError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for DigestError {}

impl Digest {
    /// Reads `algorithm:encoded`, strictly: sha256 or sha512, lowercase hex
    /// of the algorithm's length.
    pub fn parse(text: &str) -> Result<Self, DigestError> {
        let bad = |why: String| DigestError(format!("digest {text:?}: {why}"));
        let (alg, hex) = text
            .split_once(':')
            .ok_or_else(|| bad("not algorithm:hex".into()))?;
        let algorithm = match alg {
            "sha256" => Algorithm::Sha256,
            "sha512" => Algorithm::Sha512,
            _ => return Err(bad(format!("unsupported algorithm {alg:?}"))),
        };
        let len = algorithm.hex_len();
        if hex.len() != len || !hex.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')) {
            return Err(bad(format!("{alg} digests are {len} lowercase hex digits")));
        }
        Ok(Self(text.to_owned()))
    }

    /// A sha256 digest from its hex digits alone (as a chart index states
    /// it), in either case.
    pub fn sha256_hex(hex: &str) -> Result<Self, DigestError> {
        Self::parse(&format!("sha256:{}", hex.to_ascii_lowercase()))
    }

    pub fn algorithm(&self) -> Algorithm {
        if self.0.starts_with("sha512:") {
            Algorithm::Sha512
        } else {
            Algorithm::Sha256
        }
    }

    /// The hex digits after the algorithm.
    pub fn encoded(&self) -> &str {
        &self.0[self.algorithm().as_str().len() + 1..]
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn into_string(self) -> String {
        self.0
    }
}

impl fmt::Display for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl FromStr for Digest {
    type Err = DigestError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

impl AsRef<str> for Digest {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl PartialEq<str> for Digest {
    fn eq(&self, other: &str) -> bool {
        self.0 == other
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const HEX: &str = "1046cbedfd690eea05edee7efb181bf41062ad41e2b01d901db631725b29ac75";

    #[test]
    fn parses_sha256_and_sha512() {
        let d = Digest::parse(&format!("sha256:{HEX}")).unwrap();
        assert_eq!((d.algorithm(), d.encoded()), (Algorithm::Sha256, HEX));
        let long = HEX.repeat(2);
        let d = Digest::parse(&format!("sha512:{long}")).unwrap();
        assert_eq!(
            (d.algorithm(), d.encoded()),
            (Algorithm::Sha512, long.as_str())
        );
    }

    #[test]
    fn refuses_what_is_not_a_digest_saying_why() {
        let cases = [
            ("v1.0", "not algorithm:hex"),
            ("md5:abc", "unsupported algorithm \"md5\""),
            ("sha256:abc", "sha256 digests are 64 lowercase hex digits"),
        ];
        for (text, why) in cases {
            assert_eq!(
                Digest::parse(text).unwrap_err().to_string(),
                format!("digest {text:?}: {why}")
            );
        }
        let upper = format!("sha256:{}", HEX.to_ascii_uppercase());
        assert!(Digest::parse(&upper).is_err());
        let path = format!("sha256:{}/../x", &HEX[..58]);
        assert!(Digest::parse(&path).is_err());
    }

    #[test]
    fn a_bare_sha256_becomes_a_digest() {
        let d = Digest::sha256_hex(&HEX.to_ascii_uppercase()).unwrap();
        assert_eq!(d.as_str(), format!("sha256:{HEX}"));
        assert!(Digest::sha256_hex("xyz").is_err());
    }
}
