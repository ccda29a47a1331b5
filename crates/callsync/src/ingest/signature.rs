//! Request signatures for event ingest: HMAC-SHA256 over the timestamp and
//! the raw body, checked in constant time and within a tolerance window.
//!
//! The phone system sends
//! `X-Callsync-Timestamp: <Unix seconds>` and
//! `X-Callsync-Signature: v1=<hex>` where `<hex>` is
//! `HMAC-SHA256(signing secret, "<timestamp>.<body>")`. Several `v1=` values
//! may be sent, comma-separated, so a secret can be rotated without
//! downtime. Binding the timestamp into the MAC makes an old request
//! useless once the window has passed; within the window a replay carries
//! the same event ids and is deduplicated (R10).

use hmac::{Hmac, Mac};
use jiff::Timestamp;
use sha2::Sha256;

pub const TIMESTAMP_HEADER: &str = "x-callsync-timestamp";
pub const SIGNATURE_HEADER: &str = "x-callsync-signature";

/// How far a request's timestamp may be from our clock, either way.
pub const TOLERANCE_SECONDS: i64 = 300;

/// Why a signature was refused. The messages say what to fix and never echo
/// the secret or the expected signature.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    #[error("missing header {TIMESTAMP_HEADER}: sign every request (see the ingest docs)")]
    MissingTimestamp,
    #[error("missing header {SIGNATURE_HEADER}: sign every request (see the ingest docs)")]
    MissingSignature,
    #[error("header {TIMESTAMP_HEADER} must be whole Unix seconds")]
    MalformedTimestamp,
    #[error(
        "request timestamp is {0} s away from the server's clock (more than {TOLERANCE_SECONDS} s): \
         check the sender's clock, and never replay old requests"
    )]
    Stale(i64),
    #[error("header {SIGNATURE_HEADER} must hold one or more `v1=<64 hex digits>` values")]
    MalformedSignature,
    #[error(
        "signature does not match the body: sign `<timestamp>.<raw body>` with the organisation's signing secret"
    )]
    Mismatch,
}

/// The signature header value for `body` at `timestamp` (used by senders:
/// the demo, `replay`, tests).
pub fn sign(secret: &[u8], timestamp: i64, body: &[u8]) -> String {
    format!(
        "v1={}",
        hex::encode(mac(secret, timestamp, body).finalize().into_bytes())
    )
}

fn mac(secret: &[u8], timestamp: i64, body: &[u8]) -> Hmac<Sha256> {
    // HMAC accepts a key of any length, so this cannot fail.
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(secret)
        .unwrap_or_else(|_| unreachable!("HMAC takes keys of any length"));
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    mac
}

/// Checks the two headers against `body` and `now`.
pub fn verify(
    secret: &[u8],
    timestamp_header: Option<&str>,
    signature_header: Option<&str>,
    body: &[u8],
    now: Timestamp,
) -> Result<(), SignatureError> {
    let timestamp_text = timestamp_header.ok_or(SignatureError::MissingTimestamp)?;
    let signature_text = signature_header.ok_or(SignatureError::MissingSignature)?;
    let timestamp: i64 = timestamp_text
        .trim()
        .parse()
        .map_err(|_| SignatureError::MalformedTimestamp)?;
    let skew = now.as_second().saturating_sub(timestamp);
    if skew.abs() > TOLERANCE_SECONDS {
        return Err(SignatureError::Stale(skew));
    }
    let mut candidates = Vec::new();
    for part in signature_text.split(',') {
        let part = part.trim();
        let Some(hex_text) = part.strip_prefix("v1=") else {
            // Unknown schemes are skipped, so a future `v2=` can be sent
            // beside `v1=` during a migration.
            continue;
        };
        let bytes = hex::decode(hex_text).map_err(|_| SignatureError::MalformedSignature)?;
        if bytes.len() != 32 {
            return Err(SignatureError::MalformedSignature);
        }
        candidates.push(bytes);
    }
    if candidates.is_empty() {
        return Err(SignatureError::MalformedSignature);
    }
    let expected = mac(secret, timestamp, body);
    if candidates
        .iter()
        .any(|candidate| expected.clone().verify_slice(candidate).is_ok())
    {
        Ok(())
    } else {
        Err(SignatureError::Mismatch)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &[u8] = b"whsec_test";
    const BODY: &[u8] = br#"{"id":"e1"}"#;

    fn now() -> Timestamp {
        Timestamp::from_second(1_700_000_000).unwrap()
    }

    fn check(ts: Option<&str>, sig: Option<&str>) -> Result<(), SignatureError> {
        verify(SECRET, ts, sig, BODY, now())
    }

    #[test]
    fn a_request_signed_with_the_secret_is_accepted() {
        let sig = sign(SECRET, 1_700_000_000, BODY);
        assert_eq!(check(Some("1700000000"), Some(&sig)), Ok(()));
    }

    #[test]
    fn one_of_several_signatures_may_match_during_a_secret_rotation() {
        let good = sign(SECRET, 1_700_000_000, BODY);
        let old = sign(b"old secret", 1_700_000_000, BODY);
        assert_eq!(
            check(Some("1700000000"), Some(&format!("{old}, {good}"))),
            Ok(())
        );
    }

    #[test]
    fn unsigned_wrongly_signed_and_stale_requests_are_refused() {
        let sig = sign(SECRET, 1_700_000_000, BODY);
        let cases: Vec<(Option<&str>, Option<String>, SignatureError)> = vec![
            (None, Some(sig.clone()), SignatureError::MissingTimestamp),
            (Some("1700000000"), None, SignatureError::MissingSignature),
            (
                Some("yesterday"),
                Some(sig.clone()),
                SignatureError::MalformedTimestamp,
            ),
            (
                Some("1700000000"),
                Some("v1=zz".into()),
                SignatureError::MalformedSignature,
            ),
            (
                Some("1700000000"),
                Some("sha1=abc".into()),
                SignatureError::MalformedSignature,
            ),
            (
                Some("1700000000"),
                Some(sign(b"wrong", 1_700_000_000, BODY)),
                SignatureError::Mismatch,
            ),
            // The same signature with another timestamp: the timestamp is bound in.
            (
                Some("1700000001"),
                Some(sig.clone()),
                SignatureError::Mismatch,
            ),
            (
                Some("1699999000"),
                Some(sign(SECRET, 1_699_999_000, BODY)),
                SignatureError::Stale(1000),
            ),
            (
                Some("1700001000"),
                Some(sign(SECRET, 1_700_001_000, BODY)),
                SignatureError::Stale(-1000),
            ),
        ];
        for (ts, sig, expected) in cases {
            assert_eq!(
                check(ts, sig.as_deref()),
                Err(expected.clone()),
                "{ts:?} {sig:?}"
            );
        }
    }

    #[test]
    fn error_messages_never_contain_the_secret_or_the_expected_signature() {
        let expected = sign(SECRET, 1_700_000_000, BODY);
        let error = check(
            Some("1700000000"),
            Some(&sign(b"wrong", 1_700_000_000, BODY)),
        )
        .unwrap_err();
        let text = error.to_string();
        assert!(!text.contains("whsec_test"));
        assert!(!text.contains(&expected[3..]));
    }
}
