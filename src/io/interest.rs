//! `Interest`: which readiness a source is registered for (a small copy of mio's, so mio stays out of the
//! public API).

use std::fmt;
use std::ops::BitOr;

/// Readiness to register a file descriptor for: [`Interest::READABLE`], [`Interest::WRITABLE`] or both
/// (`Interest::READABLE | Interest::WRITABLE`).
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Interest(u8);

const READ_BIT: u8 = 1;
const WRITE_BIT: u8 = 2;

impl Interest {
    /// Readable: data to read, a connection to accept, the peer closed.
    pub const READABLE: Interest = Interest(READ_BIT);
    /// Writable: room in the send buffer, a connect finished.
    pub const WRITABLE: Interest = Interest(WRITE_BIT);

    /// Includes readable.
    pub fn is_readable(self) -> bool {
        self.0 & READ_BIT != 0
    }

    /// Includes writable.
    pub fn is_writable(self) -> bool {
        self.0 & WRITE_BIT != 0
    }

    pub(crate) fn to_mio(self) -> mio::Interest {
        match (self.is_readable(), self.is_writable()) {
            (true, true) => mio::Interest::READABLE | mio::Interest::WRITABLE,
            (false, true) => mio::Interest::WRITABLE,
            _ => mio::Interest::READABLE,
        }
    }
}

impl BitOr for Interest {
    type Output = Interest;
    fn bitor(self, other: Interest) -> Interest {
        Interest(self.0 | other.0)
    }
}

impl fmt::Debug for Interest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (self.is_readable(), self.is_writable()) {
            (true, true) => f.write_str("READABLE | WRITABLE"),
            (true, false) => f.write_str("READABLE"),
            (false, true) => f.write_str("WRITABLE"),
            (false, false) => f.write_str("(none)"),
        }
    }
}
