//! How callsync reaches one organisation's Salesforce: the stored connection (JSON in the
//! store's `orgs.salesforce` column), its redacted view for the admin API, and the cache of
//! one `salesforce::Client` per organisation — plus, with the web-server flow, one per
//! Salesforce user who connected themselves (their refresh tokens are in the store's
//! `salesforce_user_connections`, sealed).

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use salesforce::hosts::{self, HostKind};
use salesforce::{Auth, Client, ClientConfig, HostPolicy};
use secrecy::{ExposeSecret as _, SecretString};
use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};

use super::error::CrmError;

/// One organisation's Salesforce connection: a connected app with a certificate, whose
/// private key signs JWT bearer assertions for each Salesforce user callsync acts as — or,
/// with [`ConnectionFlow::WebServer`], a connected app each Salesforce user approves for
/// themselves (OAuth 2.0 web-server flow with PKCE), whose refresh tokens callsync keeps.
///
/// Deserialises from the stored JSON (or an admin's request); there is deliberately no
/// `Serialize`: the private key must never reach an API answer or a log by accident. Write
/// it to the store with [`SalesforceConnection::to_stored_json`], show it with
/// [`SalesforceConnection::redacted`]. `Debug` prints the key as `[REDACTED]`.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SalesforceConnection {
    /// Where tokens come from: `https://login.salesforce.com`, `https://test.salesforce.com`,
    /// the org's My Domain — an https URL on a Salesforce domain (`salesforce::hosts`) — or,
    /// only where the service allows it for development, a local sandbox on the loopback
    /// interface.
    #[schema(pattern = "^https?://.{3,}")]
    pub login_url: String,
    /// The connected app's consumer key (the JWT's `iss`).
    #[schema(pattern = r"\S")]
    pub consumer_key: String,
    /// How callsync signs in as each Salesforce user: `jwt_bearer` (the default) or
    /// `web_server`.
    #[serde(default)]
    pub flow: ConnectionFlow,
    /// The RSA private key (PEM) whose certificate the connected app holds (JWT bearer
    /// flow; empty with the web-server flow). A secret: it is only exposed to sign
    /// assertions and to be stored.
    #[serde(default = "no_secret")]
    #[schema(value_type = String, write_only)]
    pub private_key_pem: SecretString,
    /// The connected app's consumer secret (web-server flow), sent when a code is redeemed
    /// and a token refreshed. A secret, like the key.
    #[serde(default)]
    #[schema(value_type = Option<String>, write_only)]
    pub consumer_secret: Option<SecretString>,
    /// The default user's refresh token (web-server flow), stored when the admin connects
    /// that user. A secret.
    #[serde(default)]
    #[schema(value_type = Option<String>, write_only)]
    pub default_refresh_token: Option<SecretString>,
    /// The organisation's default Salesforce username: it writes the Tasks of calls nobody
    /// handled (R7) and does the searches.
    #[schema(pattern = r"\S")]
    pub default_username: String,
    /// The REST API version (`62.0`); the client's default when absent.
    #[serde(default)]
    #[schema(pattern = r"^v?[0-9]+\.[0-9]+$")]
    pub api_version: Option<String>,
    /// A CA certificate (PEM) to trust besides the built-in roots: a local sandbox's
    /// self-signed certificate, or a company proxy's CA. Not a secret.
    #[serde(default)]
    pub extra_root_certificate_pem: Option<String>,
}

fn no_secret() -> SecretString {
    SecretString::from("")
}

/// How callsync signs in as each Salesforce user of an organisation.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ConnectionFlow {
    /// One certificate for every user (pre-authorised by profile or permission set).
    #[default]
    JwtBearer,
    /// Each user connects themselves with a button; callsync keeps their refresh tokens.
    WebServer,
}

/// What the admin API may show of a connection: everything but the key, which is reduced
/// to a fingerprint so an admin can tell which key is stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct ConnectionView {
    /// See [`SalesforceConnection::login_url`].
    pub login_url: String,
    /// See [`SalesforceConnection::consumer_key`].
    pub consumer_key: String,
    /// See [`SalesforceConnection::default_username`].
    pub default_username: String,
    /// See [`SalesforceConnection::api_version`].
    pub api_version: Option<String>,
    /// See [`SalesforceConnection::flow`].
    pub flow: ConnectionFlow,
    /// `sha256:` and the first 8 bytes (hex) of the SHA-256 of the key's PEM text; absent
    /// without a key (web-server flow).
    pub private_key_fingerprint: Option<String>,
    /// Whether a consumer secret is stored.
    pub consumer_secret: bool,
    /// Whether the default user has connected (web-server flow).
    pub default_user_connected: bool,
    /// Whether an extra CA certificate is configured.
    pub extra_root_certificate: bool,
}

/// The stored form, written only by [`SalesforceConnection::to_stored_json`].
#[derive(Serialize)]
struct StoredConnection<'a> {
    login_url: &'a str,
    consumer_key: &'a str,
    flow: ConnectionFlow,
    #[serde(skip_serializing_if = "str::is_empty")]
    private_key_pem: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    consumer_secret: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    default_refresh_token: Option<&'a str>,
    default_username: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    api_version: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    extra_root_certificate_pem: Option<&'a str>,
}

impl SalesforceConnection {
    /// Reads a connection from its stored JSON and checks it ([`SalesforceConnection::check`]).
    /// The error never quotes the JSON (it holds the key).
    pub fn from_json(text: &str) -> Result<Self, CrmError> {
        let connection: SalesforceConnection = serde_json::from_str(text).map_err(|error| {
            // serde_json's message names the field and position, never the value.
            CrmError::InvalidConnection(format!("the stored connection is not valid: {error}"))
        })?;
        connection.check()?;
        Ok(connection)
    }

    /// The connection to a local sf-sandbox as its admin user, through the connected app
    /// the sandbox registers (the demo, the soak and the tests).
    pub fn of_sandbox(sandbox: &sf_sandbox::Sandbox) -> SalesforceConnection {
        let credentials = sandbox.credentials();
        SalesforceConnection {
            login_url: sandbox.url(),
            consumer_key: credentials.client_id.clone(),
            flow: ConnectionFlow::JwtBearer,
            private_key_pem: SecretString::from(credentials.private_key_pem.clone()),
            consumer_secret: None,
            default_refresh_token: None,
            default_username: credentials.username.clone(),
            api_version: None,
            extra_root_certificate_pem: None,
        }
    }

    /// The JSON to store in `orgs.salesforce`, key included. Only for the store.
    pub fn to_stored_json(&self) -> String {
        let stored = StoredConnection {
            login_url: &self.login_url,
            consumer_key: &self.consumer_key,
            flow: self.flow,
            private_key_pem: self.private_key_pem.expose_secret(),
            consumer_secret: self.consumer_secret.as_ref().map(|s| s.expose_secret()),
            default_refresh_token: self
                .default_refresh_token
                .as_ref()
                .map(|s| s.expose_secret()),
            default_username: &self.default_username,
            api_version: self.api_version.as_deref(),
            extra_root_certificate_pem: self.extra_root_certificate_pem.as_deref(),
        };
        // Serialising plain strings into JSON cannot fail.
        serde_json::to_string(&stored).unwrap_or_default()
    }

    /// Checks what can be checked without Salesforce: a login URL on a Salesforce domain
    /// (https) or the loopback interface, a consumer key, a PEM private key, a default
    /// username. The message names the field, never its value.
    ///
    /// A loopback login URL passes here because the store may hold one written by the demo
    /// or the tests; a connection arriving through the API is checked with
    /// [`SalesforceConnection::check_new`], which refuses it unless development allows it.
    pub fn check(&self) -> Result<(), CrmError> {
        let problem =
            |field: &str, why: &str| Err(CrmError::InvalidConnection(format!("{field} {why}")));
        if let Err(why) = hosts::classify(&self.login_url) {
            return problem("login_url", &why);
        }
        if self.consumer_key.trim().is_empty() {
            return problem("consumer_key", "must not be empty");
        }
        let key = self.private_key_pem.expose_secret();
        let has_key = !key.trim().is_empty();
        let key_needed = self.flow == ConnectionFlow::JwtBearer;
        if (key_needed || has_key)
            && !(key.contains("-----BEGIN") && key.contains("PRIVATE KEY-----"))
        {
            return problem("private_key_pem", "must be a PEM private key");
        }
        if self.default_username.trim().is_empty() {
            return problem("default_username", "must not be empty");
        }
        if let Some(version) = &self.api_version
            && !is_api_version(version)
        {
            return problem("api_version", "must look like 62.0");
        }
        Ok(())
    }

    /// [`SalesforceConnection::check`] for a connection an admin is storing: a login URL on
    /// the loopback interface (a local sandbox) is refused unless `allow_loopback` (the
    /// `development.allow_loopback_salesforce` setting) says this is a development service.
    pub fn check_new(&self, allow_loopback: bool) -> Result<(), CrmError> {
        self.check()?;
        let policy = if allow_loopback {
            HostPolicy::SalesforceOrLoopback
        } else {
            HostPolicy::SalesforceOnly
        };
        hosts::check(policy, &self.login_url).map_err(|why| {
            CrmError::InvalidConnection(format!(
                "login_url {why} (set development.allow_loopback_salesforce to use a local \
                 sandbox)"
            ))
        })?;
        Ok(())
    }

    /// Whether the login URL is a local sandbox's (loopback) rather than Salesforce's.
    pub fn is_loopback(&self) -> bool {
        hosts::classify(&self.login_url) == Ok(HostKind::Loopback)
    }

    /// The connection without its key, for API answers and logs.
    pub fn redacted(&self) -> ConnectionView {
        let key = self.private_key_pem.expose_secret();
        let fingerprint = (!key.trim().is_empty()).then(|| {
            let digest = Sha256::digest(key.as_bytes());
            format!("sha256:{}", hex::encode(&digest[..8]))
        });
        ConnectionView {
            login_url: self.login_url.clone(),
            consumer_key: self.consumer_key.clone(),
            default_username: self.default_username.clone(),
            api_version: self.api_version.clone(),
            flow: self.flow,
            private_key_fingerprint: fingerprint,
            consumer_secret: self.consumer_secret.is_some(),
            default_user_connected: self.default_refresh_token.is_some(),
            extra_root_certificate: self.extra_root_certificate_pem.is_some(),
        }
    }

    /// Whether each Salesforce user connects themselves (web-server flow).
    pub fn is_web_server(&self) -> bool {
        self.flow == ConnectionFlow::WebServer
    }

    /// Whether `username` is the connection's default user (compared as Salesforce does,
    /// ignoring case).
    pub fn is_default_user(&self, username: &str) -> bool {
        self.default_username
            .trim()
            .eq_ignore_ascii_case(username.trim())
    }

    /// The refresh-token flow for one user's `refresh_token` through this connection's app.
    fn refresh_auth(&self, refresh_token: &SecretString) -> Auth {
        Auth::RefreshToken {
            client_id: self.consumer_key.trim().to_owned(),
            client_secret: self.consumer_secret.clone(),
            refresh_token: refresh_token.clone(),
        }
    }

    /// Whether two connections would build the same client (the key compared too).
    fn same_as(&self, other: &SalesforceConnection) -> bool {
        self.login_url == other.login_url
            && self.consumer_key == other.consumer_key
            && self.flow == other.flow
            && self.private_key_pem.expose_secret() == other.private_key_pem.expose_secret()
            && same_secret(&self.consumer_secret, &other.consumer_secret)
            && same_secret(&self.default_refresh_token, &other.default_refresh_token)
            && self.default_username == other.default_username
            && self.api_version == other.api_version
            && self.extra_root_certificate_pem == other.extra_root_certificate_pem
    }

    /// The organisation's client: JWT bearer (acting as nobody until `for_user`), or with the
    /// web-server flow the default user's refresh token (an organisation whose default user
    /// has not connected yet gets a client whose requests are refused as not connected).
    fn client_config(&self, options: &ClientOptions) -> ClientConfig {
        let auth = match self.flow {
            ConnectionFlow::JwtBearer => Auth::JwtBearer {
                consumer_key: self.consumer_key.trim().to_owned(),
                private_key_pem: self.private_key_pem.clone(),
                audience: None,
            },
            ConnectionFlow::WebServer => {
                self.refresh_auth(self.default_refresh_token.as_ref().unwrap_or(&no_secret()))
            }
        };
        self.config_with(auth, options)
    }

    fn config_with(&self, auth: Auth, options: &ClientOptions) -> ClientConfig {
        let mut config = ClientConfig::new(self.login_url.trim(), auth);
        if let Some(version) = &self.api_version {
            config.api_version = version.trim_start_matches('v').to_owned();
        }
        config.timeout = options.timeout;
        config.client_name = options.client_name.clone();
        config.extra_root_certificate_pem = self.extra_root_certificate_pem.clone();
        // A Salesforce login URL must hand out Salesforce instance URLs only; a local
        // sandbox (stored only where development allowed it) hands out its own.
        config.host_policy = if self.is_loopback() {
            HostPolicy::SalesforceOrLoopback
        } else {
            HostPolicy::SalesforceOnly
        };
        config
    }
}

fn same_secret(a: &Option<SecretString>, b: &Option<SecretString>) -> bool {
    a.as_ref().map(|s| s.expose_secret()) == b.as_ref().map(|s| s.expose_secret())
}

fn is_api_version(version: &str) -> bool {
    let version = version.trim_start_matches('v');
    version.split_once('.').is_some_and(|(major, minor)| {
        !major.is_empty()
            && !minor.is_empty()
            && major.bytes().all(|b| b.is_ascii_digit())
            && minor.bytes().all(|b| b.is_ascii_digit())
    })
}

/// Settings shared by every organisation's client.
#[derive(Debug, Clone)]
pub struct ClientOptions {
    /// The limit on each request (the worker's `salesforce_timeout_seconds`).
    pub timeout: Duration,
    /// Sent in `Sforce-Call-Options`, so an org's admin sees which integration called.
    pub client_name: String,
}

impl Default for ClientOptions {
    fn default() -> Self {
        ClientOptions {
            timeout: Duration::from_secs(30),
            client_name: "callsync".to_owned(),
        }
    }
}

/// One `salesforce::Client` per organisation, so its token cache (one token per
/// Salesforce user), describe cache and connection pool live as long as the process.
/// A changed connection builds a fresh client; the old one's tokens are dropped with it.
#[derive(Debug, Default)]
pub struct Connections {
    options: ClientOptions,
    clients: Mutex<HashMap<String, (SalesforceConnection, Client)>>,
    /// Web-server flow: one client per (organisation, lower-case username), kept while the
    /// connection and the user's refresh token are unchanged, so its access token is reused.
    user_clients: Mutex<HashMap<(String, String), UserClient>>,
}

/// A cached client of one user: the connection it was built for, the SHA-256 (hex) of the
/// refresh token it renews with, and the client.
type UserClient = (SalesforceConnection, String, Client);

impl Connections {
    /// An empty cache whose clients use `options`.
    pub fn new(options: ClientOptions) -> Self {
        Connections {
            options,
            clients: Mutex::new(HashMap::new()),
            user_clients: Mutex::new(HashMap::new()),
        }
    }

    /// The client of organisation `org_id` for `connection`: the cached one when the
    /// connection is unchanged, otherwise a new one (which replaces it). The client acts as
    /// nobody yet: call `for_user` (or [`Connections::default_user_client`]).
    pub fn client(
        &self,
        org_id: &str,
        connection: &SalesforceConnection,
    ) -> Result<Client, CrmError> {
        let mut clients = lock(&self.clients);
        if let Some((cached, client)) = clients.get(org_id)
            && cached.same_as(connection)
        {
            return Ok(client.clone());
        }
        connection.check()?;
        let client = Client::new(connection.client_config(&self.options))?;
        clients.insert(org_id.to_owned(), (connection.clone(), client.clone()));
        Ok(client)
    }

    /// The client of `org_id` acting as the connection's default Salesforce user.
    pub fn default_user_client(
        &self,
        org_id: &str,
        connection: &SalesforceConnection,
    ) -> Result<Client, CrmError> {
        let client = self.client(org_id, connection)?;
        Ok(match connection.flow {
            ConnectionFlow::JwtBearer => client.for_user(connection.default_username.trim()),
            // The client's own refresh token is the default user's.
            ConnectionFlow::WebServer => client,
        })
    }

    /// Web-server flow: the client acting as `username` with the refresh token the user
    /// gave callsync when they connected (cached per organisation and user while the
    /// connection and the token are unchanged).
    pub fn user_client(
        &self,
        org_id: &str,
        connection: &SalesforceConnection,
        username: &str,
        refresh_token: &SecretString,
    ) -> Result<Client, CrmError> {
        let key = (org_id.to_owned(), username.trim().to_lowercase());
        let token_hash = hex::encode(Sha256::digest(refresh_token.expose_secret().as_bytes()));
        let mut clients = lock(&self.user_clients);
        if let Some((cached, cached_token, client)) = clients.get(&key)
            && cached.same_as(connection)
            && *cached_token == token_hash
        {
            return Ok(client.clone());
        }
        connection.check()?;
        let config = connection.config_with(connection.refresh_auth(refresh_token), &self.options);
        let client = Client::new(config)?;
        clients.insert(key, (connection.clone(), token_hash, client.clone()));
        Ok(client)
    }

    /// A client using the access token of a token answer as it is (not cached, never
    /// renewed): to ask who approved a connection, once.
    pub fn access_token_client(
        &self,
        connection: &SalesforceConnection,
        tokens: &salesforce::TokenResponse,
    ) -> Result<Client, CrmError> {
        let auth = Auth::AccessToken {
            instance_url: tokens.instance_url.clone(),
            token: tokens.access_token.clone(),
        };
        Ok(Client::new(connection.config_with(auth, &self.options))?)
    }

    /// Drops the cached client of `org_id` (the organisation was disconnected or deleted).
    pub fn forget(&self, org_id: &str) {
        lock(&self.clients).remove(org_id);
        lock(&self.user_clients).retain(|(org, _), _| org != org_id);
    }
}

/// Locks a std mutex, recovering from poisoning: entries are replaced whole, so a panic
/// elsewhere cannot leave one half-written.
pub(crate) fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &str = "-----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBgkqhkiG9w0BAQEFAASC\n-----END PRIVATE KEY-----\n";

    fn stored() -> String {
        serde_json::json!({
            "login_url": "https://login.salesforce.com",
            "consumer_key": "3MVG9abc",
            "private_key_pem": KEY,
            "default_username": "callsync@example.com",
        })
        .to_string()
    }

    #[test]
    fn a_stored_connection_reads_back_and_round_trips() {
        let connection = SalesforceConnection::from_json(&stored()).unwrap();
        assert_eq!(connection.default_username, "callsync@example.com");
        assert_eq!(connection.api_version, None);
        let again = SalesforceConnection::from_json(&connection.to_stored_json()).unwrap();
        assert!(again.same_as(&connection));
    }

    #[test]
    fn the_key_never_appears_in_debug_errors_or_the_redacted_view() {
        let connection = SalesforceConnection::from_json(&stored()).unwrap();
        let debug = format!("{connection:?}");
        assert!(!debug.contains("MIIEvQ"), "{debug}");
        let view = serde_json::to_string(&connection.redacted()).unwrap();
        assert!(!view.contains("MIIEvQ"), "{view}");
        assert!(view.contains("sha256:"), "{view}");
        let broken = stored().replace("callsync@example.com", "");
        let error = SalesforceConnection::from_json(&broken)
            .unwrap_err()
            .to_string();
        assert!(error.contains("default_username"), "{error}");
        assert!(!error.contains("MIIEvQ"), "{error}");
        let not_json = format!("{{\"private_key_pem\": \"{}\"", "MIIEvQ");
        let error = SalesforceConnection::from_json(&not_json)
            .unwrap_err()
            .to_string();
        assert!(!error.contains("MIIEvQ"), "{error}");
    }

    #[test]
    fn a_connection_with_a_bad_field_is_refused_by_name() {
        for (field, value, named) in [
            ("login_url", "login.salesforce.com", "login_url"),
            ("login_url", "http://login.salesforce.com", "login_url"),
            (
                "login_url",
                "https://login.salesforce.com.evil.example",
                "login_url",
            ),
            ("consumer_key", " ", "consumer_key"),
            ("private_key_pem", "not a key", "private_key_pem"),
            ("api_version", "latest", "api_version"),
        ] {
            let mut value_json: serde_json::Value = serde_json::from_str(&stored()).unwrap();
            value_json[field] = serde_json::json!(value);
            let error = SalesforceConnection::from_json(&value_json.to_string()).unwrap_err();
            assert!(error.to_string().contains(named), "{field}: {error}");
        }
    }

    #[test]
    fn a_stored_loopback_connection_reads_back_but_a_new_one_needs_the_development_setting() {
        let mut value: serde_json::Value = serde_json::from_str(&stored()).unwrap();
        value["login_url"] = serde_json::json!("http://127.0.0.1:8443");
        let local = SalesforceConnection::from_json(&value.to_string()).unwrap();
        assert!(local.is_loopback());
        let error = local.check_new(false).unwrap_err().to_string();
        assert!(error.contains("login_url"), "{error}");
        assert!(error.contains("allow_loopback_salesforce"), "{error}");
        local.check_new(true).unwrap();
        let salesforce = SalesforceConnection::from_json(&stored()).unwrap();
        salesforce.check_new(false).unwrap();
    }

    #[test]
    fn the_client_is_cached_per_org_and_rebuilt_when_the_connection_changes() {
        let connections = Connections::new(ClientOptions::default());
        let first = SalesforceConnection::from_json(&stored()).unwrap();
        connections.client("org-1", &first).unwrap();
        connections.client("org-1", &first).unwrap();
        assert_eq!(lock(&connections.clients).len(), 1);
        let mut changed = first.clone();
        changed.api_version = Some("61.0".to_owned());
        let client = connections.client("org-1", &changed).unwrap();
        assert_eq!(client.api_version(), "61.0");
        assert!(lock(&connections.clients)["org-1"].0.same_as(&changed));
        connections.forget("org-1");
        assert!(lock(&connections.clients).is_empty());
    }
}
