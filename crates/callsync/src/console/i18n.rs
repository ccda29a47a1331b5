//! The console's message catalogues: one Fluent file per language
//! (`console/i18n/en.ftl`, `console/i18n/ja.ftl`), compiled into the
//! binary, and the choice of language for a request.
//!
//! Every string a page shows comes from here (style.md, "The console");
//! data (names, numbers, Salesforce's own messages) is shown as it is.
//! A test fails when a key is in one catalogue and not the other, or when
//! a template or handler uses a key that neither has.

use std::sync::OnceLock;

use fluent_bundle::concurrent::FluentBundle;
use fluent_bundle::{FluentArgs, FluentResource, FluentValue};
use unic_langid::LanguageIdentifier;

const ENGLISH: &str = include_str!("../../console/i18n/en.ftl");
const JAPANESE: &str = include_str!("../../console/i18n/ja.ftl");

/// A language the console speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Lang {
    En,
    Ja,
}

impl Lang {
    pub const ALL: [Lang; 2] = [Lang::Ja, Lang::En];

    /// Its tag (`en`, `ja`), as the `lang` attribute, the cookie and the switch take it.
    pub fn tag(self) -> &'static str {
        match self {
            Lang::En => "en",
            Lang::Ja => "ja",
        }
    }

    /// The language a tag names; only the primary subtag counts (`ja-JP` is `ja`).
    pub fn from_tag(tag: &str) -> Option<Lang> {
        let primary = tag.trim().split(['-', '_']).next()?.to_ascii_lowercase();
        match primary.as_str() {
            "en" => Some(Lang::En),
            "ja" => Some(Lang::Ja),
            _ => None,
        }
    }

    /// The first language of an `Accept-Language` header that the console
    /// speaks, by the header's own weights (RFC 9110, 12.5.4).
    pub fn from_accept_language(header: &str) -> Option<Lang> {
        let mut ranked: Vec<(f32, usize, Lang)> = header
            .split(',')
            .enumerate()
            .filter_map(|(position, item)| {
                let mut parts = item.split(';');
                let lang = Lang::from_tag(parts.next()?)?;
                let weight = parts
                    .find_map(|part| part.trim().strip_prefix("q="))
                    .and_then(|q| q.trim().parse::<f32>().ok())
                    .unwrap_or(1.0);
                (weight > 0.0).then_some((weight, position, lang))
            })
            .collect();
        // Highest weight first; equal weights keep the header's order.
        ranked.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
        ranked.first().map(|(_, _, lang)| *lang)
    }

    fn bundle(self) -> &'static FluentBundle<FluentResource> {
        static EN: OnceLock<FluentBundle<FluentResource>> = OnceLock::new();
        static JA: OnceLock<FluentBundle<FluentResource>> = OnceLock::new();
        match self {
            Lang::En => EN.get_or_init(|| bundle("en", ENGLISH)),
            Lang::Ja => JA.get_or_init(|| bundle("ja", JAPANESE)),
        }
    }

    /// The message `key`. A missing key shows as the key itself (and the
    /// catalogue test fails), never as an empty string or a panic.
    pub fn text(self, key: &str) -> String {
        self.format(key, None)
    }

    /// The message `key` with one argument `{ $name }`.
    pub fn text_with(self, key: &str, name: &str, value: impl ToString) -> String {
        let mut args = FluentArgs::new();
        args.set(name, FluentValue::from(value.to_string()));
        self.format(key, Some(&args))
    }

    /// The message `key` with the arguments `{ $name }` of `args`.
    pub fn text_with_args(self, key: &str, args: &[(&str, String)]) -> String {
        let mut fluent_args = FluentArgs::new();
        for (name, value) in args {
            fluent_args.set(*name, FluentValue::from(value.as_str()));
        }
        self.format(key, Some(&fluent_args))
    }

    fn format(self, key: &str, args: Option<&FluentArgs<'_>>) -> String {
        let bundle = self.bundle();
        let Some(pattern) = bundle.get_message(key).and_then(|message| message.value()) else {
            tracing::warn!(key, lang = self.tag(), "console message missing");
            return key.to_owned();
        };
        let mut errors = Vec::new();
        let text = bundle.format_pattern(pattern, args, &mut errors);
        if !errors.is_empty() {
            tracing::warn!(
                key,
                lang = self.tag(),
                ?errors,
                "console message has errors"
            );
        }
        text.into_owned()
    }
}

/// Builds one language's bundle. The catalogues are part of the binary and
/// checked by the tests below, so a syntax error is a build-time bug; it
/// is logged and the rest of the file still loads.
fn bundle(tag: &str, source: &str) -> FluentBundle<FluentResource> {
    let language: LanguageIdentifier = tag.parse().unwrap_or_default();
    let mut bundle = FluentBundle::new_concurrent(vec![language]);
    // No Unicode isolation marks around arguments: they would end up in
    // form values and in copied text.
    bundle.set_use_isolating(false);
    let resource =
        FluentResource::try_new(source.to_owned()).unwrap_or_else(|(resource, errors)| {
            tracing::error!(tag, ?errors, "console catalogue has syntax errors");
            resource
        });
    if let Err(errors) = bundle.add_resource(resource) {
        tracing::error!(tag, ?errors, "console catalogue has duplicate keys");
    }
    bundle
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use fluent_bundle::FluentResource;

    use super::*;

    /// The message ids of a catalogue, which must parse without errors. A
    /// message starts a line with its id and ` =` (Fluent's syntax); the
    /// resource's own AST types are not re-exported by fluent-bundle.
    fn keys(source: &str) -> BTreeSet<String> {
        if let Err((_, errors)) = FluentResource::try_new(source.to_owned()) {
            panic!("catalogue does not parse: {errors:?}");
        }
        source
            .lines()
            .filter_map(|line| {
                let (id, _) = line.split_once(" =")?;
                let well_formed = id.starts_with(|c: char| c.is_ascii_alphabetic())
                    && id
                        .chars()
                        .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
                well_formed.then(|| id.to_owned())
            })
            .collect()
    }

    /// Every key a template or handler asks for: the string literal after
    /// `.t("`, `.t_with("`, `.text("` or `.text_with("`.
    fn used_keys() -> BTreeSet<String> {
        let mut used = BTreeSet::new();
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
        let mut files = Vec::new();
        for dir in ["templates/console", "src/console"] {
            for entry in std::fs::read_dir(root.join(dir)).unwrap() {
                files.push(entry.unwrap().path());
            }
        }
        for file in files {
            if file.file_name().is_some_and(|name| name == "i18n.rs") {
                continue;
            }
            let text = std::fs::read_to_string(&file).unwrap();
            for opener in [".t(\"", ".t_with(\"", ".text(\"", ".text_with(\""] {
                for (at, _) in text.match_indices(opener) {
                    let rest = &text[at + opener.len()..];
                    let key: String = rest
                        .chars()
                        .take_while(|c| c.is_ascii_alphanumeric() || *c == '-')
                        .collect();
                    if rest[key.len()..].starts_with('"') && !key.is_empty() {
                        used.insert(key);
                    }
                }
            }
        }
        used.extend(super::super::built_keys());
        used
    }

    #[test]
    fn english_and_japanese_have_the_same_keys() {
        let english = keys(ENGLISH);
        let japanese = keys(JAPANESE);
        let only_english: Vec<_> = english.difference(&japanese).collect();
        let only_japanese: Vec<_> = japanese.difference(&english).collect();
        assert!(
            only_english.is_empty() && only_japanese.is_empty(),
            "missing in ja.ftl: {only_english:?}; missing in en.ftl: {only_japanese:?}"
        );
    }

    #[test]
    fn every_key_the_console_uses_is_in_both_catalogues() {
        let used = used_keys();
        assert!(used.len() > 50, "the key scan found too few keys: {used:?}");
        for (name, source) in [("en.ftl", ENGLISH), ("ja.ftl", JAPANESE)] {
            let known = keys(source);
            let missing: Vec<_> = used.difference(&known).collect();
            assert!(missing.is_empty(), "{name} lacks {missing:?}");
        }
    }

    #[test]
    fn a_message_with_an_argument_has_it_in_both_languages() {
        assert!(
            Lang::En
                .text_with("errors-retry-all", "count", 3)
                .contains('3')
        );
        assert!(
            Lang::Ja
                .text_with("errors-retry-all", "count", 3)
                .contains('3')
        );
    }

    #[test]
    fn the_browser_language_is_read_by_weight() {
        assert_eq!(
            Lang::from_accept_language("ja-JP,ja;q=0.9,en;q=0.8"),
            Some(Lang::Ja)
        );
        assert_eq!(
            Lang::from_accept_language("fr, en;q=0.5, ja;q=0.7"),
            Some(Lang::Ja)
        );
        assert_eq!(Lang::from_accept_language("en-GB"), Some(Lang::En));
        assert_eq!(Lang::from_accept_language("fr, de"), None);
        assert_eq!(Lang::from_accept_language("ja;q=0, en"), Some(Lang::En));
    }
}
