//! W3C Trace Context for provider calls (`propagate_traceparent`): the crate's own, as the
//! one header it needs does not warrant an OpenTelemetry stack. A request's `traceparent`
//! is the parent of the provider calls made while it is handled (a task-local set by the
//! routes and guards); each call carries a child: the same trace id and flags, a new
//! parent id.

use std::fmt::Write as _;
use std::future::Future;

tokio::task_local! {
    static PARENT: TraceParent;
}

/// An incoming `traceparent`: what a child keeps of it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct TraceParent {
    trace_id: [u8; 16],
    flags: u8,
}

impl TraceParent {
    /// Reads a `traceparent` header (Trace Context §3.2): version `00` exactly, or a
    /// later version's first four fields; `None` when malformed, version `ff`, or an
    /// all-zero id (the spec's "invalid", to be ignored).
    pub(crate) fn parse(header: &str) -> Option<TraceParent> {
        let header = header.trim();
        let mut parts = header.split('-');
        let (version, trace_id, parent_id, flags) =
            (parts.next()?, parts.next()?, parts.next()?, parts.next()?);
        let extra = parts.next();
        let lower_hex = |s: &str, len: usize| {
            s.len() == len
                && s.bytes()
                    .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
        };
        if !lower_hex(version, 2) || version == "ff" || (version == "00" && extra.is_some()) {
            return None;
        }
        if !lower_hex(trace_id, 32) || !lower_hex(parent_id, 16) || !lower_hex(flags, 2) {
            return None;
        }
        let mut id = [0u8; 16];
        for (i, byte) in id.iter_mut().enumerate() {
            *byte = u8::from_str_radix(&trace_id[2 * i..2 * i + 2], 16).ok()?;
        }
        if id == [0; 16] || parent_id.bytes().all(|b| b == b'0') {
            return None;
        }
        Some(TraceParent {
            trace_id: id,
            flags: u8::from_str_radix(flags, 16).ok()?,
        })
    }

    /// The `traceparent` of one outgoing call: version 00, this trace, a new parent id.
    fn child(&self) -> String {
        let mut parent_id: [u8; 8] = rand::random();
        if parent_id == [0; 8] {
            parent_id[7] = 1;
        }
        let mut out = String::with_capacity(55);
        out.push_str("00-");
        for byte in self.trace_id {
            let _ = write!(out, "{byte:02x}");
        }
        out.push('-');
        for byte in parent_id {
            let _ = write!(out, "{byte:02x}");
        }
        let _ = write!(out, "-{:02x}", self.flags);
        out
    }
}

/// Runs `future` with `parent` (if any) as the trace of the provider calls it makes.
pub(crate) async fn with_parent<F: Future>(parent: Option<TraceParent>, future: F) -> F::Output {
    match parent {
        Some(parent) => PARENT.scope(parent, future).await,
        None => future.await,
    }
}

/// The `traceparent` header for a provider call made now, when the request being handled
/// carried one (and the app propagates them).
pub(crate) fn outgoing() -> Option<String> {
    PARENT.try_with(TraceParent::child).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    const SAMPLE: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

    #[test]
    fn a_child_keeps_the_trace_and_flags_with_a_new_parent() {
        let parent = TraceParent::parse(SAMPLE).unwrap();
        let child = parent.child();
        assert_eq!(child.len(), 55);
        assert!(
            child.starts_with("00-4bf92f3577b34da6a3ce929d0e0e4736-"),
            "{child}"
        );
        assert!(child.ends_with("-01"), "{child}");
        assert_ne!(&child[36..52], "00f067aa0ba902b7");
        assert_eq!(TraceParent::parse(&child), Some(parent));
    }

    #[test]
    fn malformed_and_invalid_headers_are_ignored() {
        for bad in [
            "",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7",
            "00-00000000000000000000000000000000-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",
            "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-extra",
            "00-4bf92f3577b34da6a3ce929d0e0e473-00f067aa0ba902b7-01",
        ] {
            assert_eq!(TraceParent::parse(bad), None, "{bad:?}");
        }
        // A later version: its first four fields.
        let later = "01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-what-comes";
        assert!(TraceParent::parse(later).is_some());
    }

    #[tokio::test]
    async fn calls_carry_a_child_only_inside_a_request_with_a_parent() {
        assert_eq!(outgoing(), None);
        let parent = TraceParent::parse(SAMPLE);
        let inside = with_parent(parent, async { outgoing() }).await.unwrap();
        assert!(inside.starts_with("00-4bf92f3577b34da6a3ce929d0e0e4736-"));
        assert_eq!(with_parent(None, async { outgoing() }).await, None);
    }
}
