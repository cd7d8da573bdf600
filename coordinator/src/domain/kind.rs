//! Registry kinds. The binary knows no kind: a kind exists while an
//! installed template declares it serves it (see `engine::template::Kinds`).

use std::fmt;

use serde::{Deserialize, Serialize};

/// Harbor's registry type names that mean a kind Ferry's templates name
/// otherwise, so that a Harbor user's `"type": "docker-registry"` works.
const ALIASES: &[(&str, &str)] = &[("docker-registry", "distribution")];

/// A registry kind, e.g. `distribution` or `helm`: lowercase letters,
/// digits and `-`, at most 63 characters. Aliases become the name they
/// stand for.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct RegistryKind(String);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0:?} is not a registry kind: use lowercase letters, digits and '-' (at most 63)")]
pub struct KindError(String);

impl RegistryKind {
    /// Checks a kind name and resolves Harbor's aliases.
    pub fn parse(name: &str) -> Result<Self, KindError> {
        let name = name.trim();
        let ok = !name.is_empty()
            && name.len() <= 63
            && name
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
            && !name.starts_with('-');
        if !ok {
            return Err(KindError(name.to_string()));
        }
        let name = ALIASES
            .iter()
            .find(|(alias, _)| *alias == name)
            .map_or(name, |(_, canonical)| canonical);
        Ok(Self(name.to_string()))
    }

    /// The kinds that `self` is also called (Harbor's names).
    pub fn aliases(&self) -> Vec<&'static str> {
        ALIASES
            .iter()
            .filter(|(_, canonical)| *canonical == self.0)
            .map(|(alias, _)| *alias)
            .collect()
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for RegistryKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl TryFrom<String> for RegistryKind {
    type Error = KindError;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        Self::parse(&s)
    }
}

impl From<RegistryKind> for String {
    fn from(k: RegistryKind) -> Self {
        k.0
    }
}

impl std::str::FromStr for RegistryKind {
    type Err = KindError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

impl utoipa::PartialSchema for RegistryKind {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        utoipa::openapi::ObjectBuilder::new()
            .schema_type(utoipa::openapi::schema::Type::String)
            .pattern(Some("^[a-z0-9][a-z0-9-]{0,62}$"))
            .description(Some(
                "A registry kind that an installed template serves (GET /api/v1/kinds); \
                 Harbor's docker-registry is distribution",
            ))
            .into()
    }
}

impl utoipa::ToSchema for RegistryKind {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_checked_and_aliases_resolved() {
        assert_eq!(RegistryKind::parse("helm").unwrap().as_str(), "helm");
        assert_eq!(
            RegistryKind::parse("docker-registry").unwrap().as_str(),
            "distribution"
        );
        assert_eq!(
            RegistryKind::parse("distribution").unwrap().aliases(),
            vec!["docker-registry"]
        );
        for bad in ["", "Helm", "a b", "-x", "x/y", &"k".repeat(64)] {
            assert!(RegistryKind::parse(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn serde_goes_through_parse() {
        let k: RegistryKind = serde_json::from_str("\"docker-registry\"").unwrap();
        assert_eq!(serde_json::to_string(&k).unwrap(), "\"distribution\"");
        assert!(serde_json::from_str::<RegistryKind>("\"UPPER\"").is_err());
    }
}
