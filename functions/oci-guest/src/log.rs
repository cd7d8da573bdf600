//! Logging through the host.

use crate::host::{self, Level};

pub fn debug(message: impl AsRef<str>) {
    host::log(Level::Debug, message.as_ref());
}

pub fn info(message: impl AsRef<str>) {
    host::log(Level::Info, message.as_ref());
}

pub fn warn(message: impl AsRef<str>) {
    host::log(Level::Warn, message.as_ref());
}

pub fn error(message: impl AsRef<str>) {
    host::log(Level::Error, message.as_ref());
}
