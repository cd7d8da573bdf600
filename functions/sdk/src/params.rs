//! Step parameters, declared once as a typed struct with [`params!`]: the
//! declaration gives `describe` its parameter specs and reads `run`'s values,
//! which arrive as strings (the template's YAML values).

use crate::errors::invalid;
use crate::{ParamSpec, WitError};
use std::num::IntErrorKind;

/// A parameter's type: how a step's value reads, and how a default shows
/// in `describe`.
pub trait ParamValue: Sized {
    /// Reads a value; `Ok(None)` for a blank one, which means the default.
    /// The error says what was expected.
    fn parse(raw: &str) -> Result<Option<Self>, String>;

    /// The value as `describe` shows it for a default.
    fn show(&self) -> String;

    /// The value of a parameter the step leaves unset and that has no
    /// default; `None` makes the parameter required.
    fn unset() -> Option<Self> {
        None
    }
}

/// `true`, `yes`, `on`, `1` and their opposites, in any case.
impl ParamValue for bool {
    fn parse(raw: &str) -> Result<Option<Self>, String> {
        match raw.trim().to_ascii_lowercase().as_str() {
            "" => Ok(None),
            "true" | "yes" | "on" | "1" => Ok(Some(true)),
            "false" | "no" | "off" | "0" => Ok(Some(false)),
            _ => Err("expected true or false".into()),
        }
    }

    fn show(&self) -> String {
        self.to_string()
    }
}

macro_rules! unsigned {
    ($($t:ty),+) => {$(
        impl ParamValue for $t {
            fn parse(raw: &str) -> Result<Option<Self>, String> {
                let raw = raw.trim();
                if raw.is_empty() {
                    return Ok(None);
                }
                raw.parse().map(Some).map_err(|e: std::num::ParseIntError| match e.kind() {
                    IntErrorKind::PosOverflow => format!("expected at most {}", <$t>::MAX),
                    _ => "expected a non-negative integer".into(),
                })
            }

            fn show(&self) -> String {
                self.to_string()
            }
        }
    )+};
}
unsigned!(u64, u32, usize);

/// Taken as it is: a blank string is a value, not the default.
impl ParamValue for String {
    fn parse(raw: &str) -> Result<Option<Self>, String> {
        Ok(Some(raw.to_owned()))
    }

    fn show(&self) -> String {
        self.clone()
    }
}

/// Optional without a default: `None` when unset or blank.
impl<T: ParamValue> ParamValue for Option<T> {
    fn parse(raw: &str) -> Result<Option<Self>, String> {
        T::parse(raw).map(|v| v.map(Some))
    }

    fn show(&self) -> String {
        self.as_ref().map(T::show).unwrap_or_default()
    }

    fn unset() -> Option<Self> {
        Some(None)
    }
}

/// How a declared default may be written: a value of the parameter's type,
/// or a string literal for a `String`.
pub trait DefaultValue<T> {
    fn value(self) -> T;
}

impl<T: ParamValue> DefaultValue<T> for T {
    fn value(self) -> T {
        self
    }
}

impl DefaultValue<String> for &str {
    fn value(self) -> String {
        self.to_owned()
    }
}

/// A field's parameter name: `page_size` is `page-size`.
fn name(field: &str) -> String {
    field.trim_start_matches("r#").replace('_', "-")
}

/// The spec of one field of a [`params!`] struct.
#[doc(hidden)]
pub fn spec<T: ParamValue>(field: &str, doc: &[&str], default: Option<T>) -> ParamSpec {
    let description: Vec<&str> = doc
        .iter()
        .map(|line| line.trim())
        .filter(|line| !line.is_empty())
        .collect();
    ParamSpec {
        name: name(field),
        description: description.join(" "),
        required: default.is_none() && T::unset().is_none(),
        default: default.as_ref().map(T::show),
    }
}

/// The value of one field of a [`params!`] struct: the step's (the last, if
/// it sets it twice), else the default, else unset.
#[doc(hidden)]
pub fn value<T: ParamValue>(
    params: &[(String, String)],
    field: &str,
    default: Option<T>,
) -> Result<T, WitError> {
    let name = name(field);
    let set = params.iter().rev().find(|(k, _)| *k == name);
    let parsed = match set {
        None => None,
        Some((_, raw)) => T::parse(raw).map_err(|expected| {
            invalid(format!(
                "parameter {name:?} is {:?}: {expected}",
                raw.trim()
            ))
        })?,
    };
    parsed
        .or(default)
        .or_else(T::unset)
        .ok_or_else(|| invalid(format!("parameter {name:?} is required")))
}

/// Declares a function's parameters as a struct, once. Each field is a
/// parameter: its name is the field's with `-` for `_`, its description the
/// field's doc comment, its type one of `bool`, `u64`, `u32`, `usize`,
/// `String`, an enum declared with [`choices!`](crate::choices), or
/// `Option<_>` of one of those (optional, no default). `= value` gives a
/// default; a field with neither a default nor `Option` is required.
///
/// ```
/// ferry_sdk::params! {
///     pub struct Params {
///         /// Entries per page.
///         page_size: u64 = 100,
///         /// Where to POST the summary.
///         url: String,
///         /// A label to add, if any.
///         label: Option<String>,
///     }
/// }
/// let specs = Params::specs();
/// assert_eq!(specs[0].name, "page-size");
/// assert_eq!(specs[0].default.as_deref(), Some("100"));
/// let p = Params::parse(&[("url".into(), "http://x".into())]).unwrap();
/// assert_eq!((p.page_size, p.url.as_str(), p.label), (100, "http://x", None));
/// ```
///
/// `Params::specs()` answers the specs for `describe`; `Params::parse(&input.params)`
/// reads the step's values, with defaults, and fails with an `invalid` error
/// that names the parameter. Unknown names are the host's to reject.
#[macro_export]
macro_rules! params {
    (
        $(#[$meta:meta])*
        $vis:vis struct $name:ident {
            $(
                $(#[doc = $doc:literal])*
                $field:ident : $ty:ty $(= $default:expr)?
            ),* $(,)?
        }
    ) => {
        $(#[$meta])*
        $vis struct $name {
            $( $(#[doc = $doc])* pub $field: $ty, )*
        }

        impl $name {
            /// The parameters, as `describe` declares them.
            pub fn specs() -> ::std::vec::Vec<$crate::ParamSpec> {
                ::std::vec![$(
                    $crate::params::spec::<$ty>(
                        ::core::stringify!($field),
                        &[$($doc),*],
                        $crate::__param_default!($ty $(, $default)?),
                    )
                ),*]
            }

            /// Reads the step's parameters.
            pub fn parse(
                params: &[(::std::string::String, ::std::string::String)],
            ) -> ::core::result::Result<Self, $crate::WitError> {
                ::core::result::Result::Ok(Self {$(
                    $field: $crate::params::value::<$ty>(
                        params,
                        ::core::stringify!($field),
                        $crate::__param_default!($ty $(, $default)?),
                    )?,
                )*})
            }
        }
    };
}

#[doc(hidden)]
#[macro_export]
macro_rules! __param_default {
    ($ty:ty) => {
        ::core::option::Option::None::<$ty>
    };
    ($ty:ty, $default:expr) => {
        ::core::option::Option::Some::<$ty>($crate::params::DefaultValue::<$ty>::value($default))
    };
}

/// Declares an enum whose variants a parameter takes by name, e.g.
/// `pub enum Upload { Monolithic = "monolithic", Chunked = "chunked" }`.
/// Any other value fails with the list of the names.
#[macro_export]
macro_rules! choices {
    (
        $(#[$meta:meta])*
        $vis:vis enum $name:ident {
            $( $(#[$vmeta:meta])* $variant:ident = $text:literal ),+ $(,)?
        }
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq)]
        $vis enum $name {
            $( $(#[$vmeta])* $variant ),+
        }

        impl $name {
            /// The name a step gives this choice.
            pub fn name(self) -> &'static str {
                match self {
                    $( Self::$variant => $text ),+
                }
            }
        }

        impl $crate::params::ParamValue for $name {
            fn parse(
                raw: &str,
            ) -> ::core::result::Result<::core::option::Option<Self>, ::std::string::String> {
                match raw.trim() {
                    "" => ::core::result::Result::Ok(::core::option::Option::None),
                    $( $text => ::core::result::Result::Ok(::core::option::Option::Some(Self::$variant)), )+
                    _ => ::core::result::Result::Err(::std::format!(
                        "expected one of {}",
                        [$($text),+].join(", ")
                    )),
                }
            }

            fn show(&self) -> ::std::string::String {
                ::std::borrow::ToOwned::to_owned(self.name())
            }
        }
    };
}

#[cfg(test)]
mod tests {
    use crate::ErrorKind;

    crate::choices! {
        enum Upload {
            Monolithic = "monolithic",
            Chunked = "chunked",
        }
    }

    crate::params! {
        #[derive(Debug, PartialEq)]
        struct Params {
            /// Entries per page
            /// (the n query parameter).
            page_size: u64 = 100,
            /// Follow referrers.
            referrers: bool = true,
            upload: Upload = Upload::Monolithic,
            /// Where to post.
            url: String,
            repository: String = "**",
            label: Option<String>,
            depth: Option<u32>,
            r#type: usize = 3,
        }
    }

    fn raw(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    fn error(pairs: &[(&str, &str)]) -> crate::WitError {
        match Params::parse(&raw(pairs)) {
            Ok(p) => panic!("parsed {p:?}"),
            Err(e) => e,
        }
    }

    #[test]
    fn specs_say_names_descriptions_defaults_and_requirement() {
        let specs: Vec<(String, String, bool, Option<String>)> = Params::specs()
            .into_iter()
            .map(|s| (s.name, s.description, s.required, s.default))
            .collect();
        let spec = |n: &str, d: &str, r: bool, default: Option<&str>| {
            (n.to_owned(), d.to_owned(), r, default.map(str::to_owned))
        };
        assert_eq!(
            specs,
            vec![
                spec(
                    "page-size",
                    "Entries per page (the n query parameter).",
                    false,
                    Some("100")
                ),
                spec("referrers", "Follow referrers.", false, Some("true")),
                spec("upload", "", false, Some("monolithic")),
                spec("url", "Where to post.", true, None),
                spec("repository", "", false, Some("**")),
                spec("label", "", false, None),
                spec("depth", "", false, None),
                spec("type", "", false, Some("3")),
            ]
        );
    }

    #[test]
    fn unset_parameters_take_their_defaults() {
        assert_eq!(
            Params::parse(&raw(&[("url", "")])).unwrap(),
            Params {
                page_size: 100,
                referrers: true,
                upload: Upload::Monolithic,
                url: String::new(),
                repository: "**".into(),
                label: None,
                depth: None,
                r#type: 3,
            }
        );
    }

    #[test]
    fn set_parameters_are_read() {
        let p = Params::parse(&raw(&[
            ("page-size", " 50 "),
            ("page-size", "7"),
            ("referrers", "Off"),
            ("upload", "chunked"),
            ("url", "http://hook"),
            ("repository", ""),
            ("label", "x"),
            ("depth", "2"),
            ("type", "0"),
        ]))
        .unwrap();
        assert_eq!(
            p,
            Params {
                page_size: 7,
                referrers: false,
                upload: Upload::Chunked,
                url: "http://hook".into(),
                repository: String::new(),
                label: Some("x".into()),
                depth: Some(2),
                r#type: 0,
            }
        );
    }

    #[test]
    fn blank_values_mean_the_default() {
        let p = Params::parse(&raw(&[
            ("url", "u"),
            ("page-size", " "),
            ("referrers", ""),
            ("upload", ""),
            ("depth", ""),
        ]))
        .unwrap();
        assert_eq!(
            (p.page_size, p.referrers, p.upload, p.depth),
            (100, true, Upload::Monolithic, None)
        );
    }

    #[test]
    fn bad_values_are_named_with_what_was_expected() {
        let cases = [
            (
                ("page-size", "x"),
                r#"parameter "page-size" is "x": expected a non-negative integer"#,
            ),
            (
                ("page-size", "-1"),
                r#"parameter "page-size" is "-1": expected a non-negative integer"#,
            ),
            (
                ("depth", "4294967296"),
                r#"parameter "depth" is "4294967296": expected at most 4294967295"#,
            ),
            (
                ("referrers", " maybe "),
                r#"parameter "referrers" is "maybe": expected true or false"#,
            ),
            (
                ("upload", "Chunked"),
                r#"parameter "upload" is "Chunked": expected one of monolithic, chunked"#,
            ),
        ];
        for ((name, value), message) in cases {
            let e = error(&[("url", "u"), (name, value)]);
            assert_eq!(
                (e.kind, e.message.as_str(), e.retryable),
                (ErrorKind::Invalid, message, false)
            );
        }
    }

    #[test]
    fn a_required_parameter_must_be_set() {
        let e = error(&[("page-size", "1")]);
        assert_eq!(e.kind, ErrorKind::Invalid);
        assert_eq!(e.message, r#"parameter "url" is required"#);
    }
}
