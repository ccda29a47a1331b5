//! Which hosts a client may send credentials to and take an `instance_url` from: the
//! domains Salesforce serves orgs on, and — only when asked — the loopback interface (a
//! local sandbox during development and tests).
//!
//! A login URL receives a signed JWT assertion (or a client secret, a refresh token), and
//! the token answer names the instance every later request goes to with a bearer token.
//! Trusting any host there would hand both to whoever controls the URL, so the check is
//! made on the login URL when a client is built and on every `instance_url` a token answer
//! carries.
//!
//! The domains, from Salesforce's documentation:
//! - `login.salesforce.com`, `test.salesforce.com` and instanced hosts such as
//!   `eu55.salesforce.com` (Salesforce Help, "Set the My Domain Login Policy");
//! - My Domain hosts `MyDomainName.my.salesforce.com`, and for sandboxes and scratch orgs
//!   `MyDomainName--SandboxName.sandbox.my.salesforce.com`, `….scratch.my.salesforce.com`,
//!   `….develop.my.salesforce.com` (Salesforce Help, "My Domain URL Formats";
//!   developer.salesforce.com, "Call Salesforce URLs Within a Package");
//! - `MyDomainName.lightning.force.com` and other `*.force.com` hosts (Apex reference,
//!   `System.DomainCreator`);
//! - the legacy `*.cloudforce.com` My Domain hosts;
//! - US Government Cloud Plus (Defense): `*.my.salesforce.mil`.
//!
//! All of them are subdomains of a few registrable domains, so the rule is "https, default
//! port, a host that is one of those domains or ends with `.` and one of them". A
//! look-alike such as `salesforce.com.evil.example` or `evilsalesforce.com` does not match.

/// Where a client may connect.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum HostPolicy {
    /// Only `https://` URLs on a Salesforce domain (the default).
    #[default]
    SalesforceOnly,
    /// Salesforce domains, and also `http(s)://` on the loopback interface (`127.0.0.1`,
    /// `[::1]`, `localhost`): a local sandbox. For development and tests only.
    SalesforceOrLoopback,
}

/// The registrable domains Salesforce serves orgs on (see the module documentation).
pub const SALESFORCE_DOMAINS: [&str; 4] = [
    "salesforce.com",
    "force.com",
    "cloudforce.com",
    "salesforce.mil",
];

/// What kind of host a URL names, when it is one a client may use at all.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HostKind {
    /// `https://` on a Salesforce domain, default port, no credentials in the URL.
    Salesforce,
    /// `http(s)://` on the loopback interface.
    Loopback,
}

/// Classifies `url`, or says in plain words why it is neither a Salesforce URL nor a
/// loopback one. The message never repeats the URL (the caller names the field).
pub fn classify(url: &str) -> Result<HostKind, String> {
    let parsed = reqwest::Url::parse(url.trim()).map_err(|_| "is not a URL".to_owned())?;
    if !parsed.username().is_empty() || parsed.password().is_some() {
        return Err("must not carry a user name or password".to_owned());
    }
    let host = parsed
        .host_str()
        .ok_or_else(|| "has no host".to_owned())?
        .to_ascii_lowercase();
    // IPv6 literals keep their brackets in `host_str`.
    if let Ok(ip) = host.trim_matches(['[', ']']).parse::<std::net::IpAddr>() {
        if ip.is_loopback() {
            return loopback(&parsed);
        }
        return Err("must name a Salesforce host, not an IP address".to_owned());
    }
    if host == "localhost" {
        return loopback(&parsed);
    }
    let on_salesforce = SALESFORCE_DOMAINS
        .iter()
        .any(|domain| host == *domain || host.ends_with(&format!(".{domain}")));
    if !on_salesforce {
        return Err(format!(
            "must be on a Salesforce domain ({})",
            SALESFORCE_DOMAINS
                .iter()
                .map(|domain| format!("*.{domain}"))
                .collect::<Vec<_>>()
                .join(", ")
        ));
    }
    if parsed.scheme() != "https" {
        return Err("must be an https:// URL".to_owned());
    }
    if parsed.port().is_some() {
        return Err("must use the default https port".to_owned());
    }
    Ok(HostKind::Salesforce)
}

fn loopback(parsed: &reqwest::Url) -> Result<HostKind, String> {
    match parsed.scheme() {
        "http" | "https" => Ok(HostKind::Loopback),
        _ => Err("must be an http(s) URL".to_owned()),
    }
}

/// Checks `url` against `policy`; the error says why it is refused, without the URL.
pub fn check(policy: HostPolicy, url: &str) -> Result<HostKind, String> {
    match (classify(url)?, policy) {
        (HostKind::Salesforce, _) => Ok(HostKind::Salesforce),
        (HostKind::Loopback, HostPolicy::SalesforceOrLoopback) => Ok(HostKind::Loopback),
        (HostKind::Loopback, HostPolicy::SalesforceOnly) => Err(
            "must be an https:// URL on a Salesforce domain; a loopback URL (a local sandbox) \
             is allowed only in development"
                .to_owned(),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_documented_salesforce_hosts_are_accepted() {
        for url in [
            "https://login.salesforce.com",
            "https://test.salesforce.com/",
            "https://eu55.salesforce.com",
            "https://acme.my.salesforce.com",
            "https://ACME.MY.SALESFORCE.COM",
            "https://acme--uat.sandbox.my.salesforce.com",
            "https://fun-dev-ed.scratch.my.salesforce.com",
            "https://acme-dev-ed.develop.my.salesforce.com",
            "https://acme.lightning.force.com",
            "https://acme.cloudforce.com",
            "https://agency.my.salesforce.mil",
        ] {
            assert_eq!(
                check(HostPolicy::SalesforceOnly, url),
                Ok(HostKind::Salesforce),
                "{url}"
            );
        }
    }

    #[test]
    fn look_alikes_plain_http_ports_credentials_and_ip_addresses_are_refused() {
        for (url, why) in [
            ("http://login.salesforce.com", "https"),
            ("https://login.salesforce.com:8443", "port"),
            ("https://salesforce.com.evil.example", "Salesforce domain"),
            ("https://evilsalesforce.com", "Salesforce domain"),
            ("https://example.com", "Salesforce domain"),
            ("https://user:pw@acme.my.salesforce.com", "user name"),
            ("https://10.0.0.8", "IP address"),
            ("https://169.254.169.254", "IP address"),
            ("ftp://127.0.0.1", "http(s)"),
            ("login.salesforce.com", "not a URL"),
        ] {
            let error = check(HostPolicy::SalesforceOrLoopback, url).unwrap_err();
            assert!(error.contains(why), "{url}: {error}");
        }
    }

    #[test]
    fn loopback_is_allowed_only_by_its_own_policy() {
        for url in [
            "http://127.0.0.1:8443",
            "https://localhost:1234",
            "http://[::1]:80",
        ] {
            assert_eq!(
                check(HostPolicy::SalesforceOrLoopback, url),
                Ok(HostKind::Loopback)
            );
            let error = check(HostPolicy::SalesforceOnly, url).unwrap_err();
            assert!(error.contains("only in development"), "{url}: {error}");
        }
    }
}
