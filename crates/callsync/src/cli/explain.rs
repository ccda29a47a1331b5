//! `callsync explain-number`: what callsync makes of a phone number (R3.6),
//! so an admin can see why a call did or did not match a record.

use std::io::{BufRead, Write};

use anyhow::Context as _;
use callsync_core::phone::{PhoneRegion, explain};

/// Explains one number in words, or — given `-` — every line of `input`
/// as one tab-separated line (input, E.164 or empty, valid, type, extension).
pub fn run(
    number: &str,
    region: &str,
    input: impl BufRead,
    mut output: impl Write,
) -> anyhow::Result<()> {
    let region = PhoneRegion::parse(region).with_context(|| {
        format!("--region {region:?} is not a region code such as JP, US or GB")
    })?;
    if number == "-" {
        for (index, line) in input.lines().enumerate() {
            let line =
                line.with_context(|| format!("cannot read line {} of standard input", index + 1))?;
            let line = line.trim_end_matches('\r');
            writeln!(output, "{}", explain(line, region).tab_separated())?;
        }
        return Ok(());
    }
    let explanation = explain(number, region);
    writeln!(output, "input:      {}", explanation.input)?;
    match &explanation.e164 {
        Some(e164) => writeln!(output, "E.164:      {e164}")?,
        None => writeln!(output, "E.164:      (none)")?,
    }
    writeln!(output, "valid:      {}", explanation.valid)?;
    if let Some(kind) = explanation.number_type {
        writeln!(output, "type:       {}", kind.as_str())?;
    }
    if let Some(extension) = &explanation.extension {
        writeln!(output, "extension:  {extension}")?;
    }
    let verdict = match (&explanation.e164, explanation.valid, &explanation.key) {
        (Some(e164), true, _) => format!(
            "matches any record whose number is the same in normal form ({e164}), however it is written"
        ),
        (_, _, Some(key)) => format!(
            "not a valid number for region {region}: matches only a record holding exactly the digits {key}"
        ),
        _ => "has no digits: matches no record".to_owned(),
    };
    writeln!(output, "matching:   {verdict}")?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn explain_to_string(number: &str, region: &str, stdin: &str) -> String {
        let mut out = Vec::new();
        run(number, region, stdin.as_bytes(), &mut out).unwrap();
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn r3_6_a_tokyo_number_is_explained_in_normal_form() {
        let text = explain_to_string("03-1234-5678", "JP", "");
        assert!(text.contains("E.164:      +81312345678"), "{text}");
        assert!(text.contains("valid:      true"), "{text}");
    }

    #[test]
    fn r3_6_a_dash_reads_one_number_per_line_and_prints_tab_separated_results() {
        let text = explain_to_string("-", "JP", "０３－１２３４－５６７８\nnot a number\n");
        let lines: Vec<_> = text.lines().collect();
        assert_eq!(lines.len(), 2);
        assert!(
            lines[0].starts_with("０３－１２３４－５６７８\t+81312345678\ttrue\t"),
            "{}",
            lines[0]
        );
        assert!(
            lines[1].starts_with("not a number\t\tfalse"),
            "{}",
            lines[1]
        );
    }

    #[test]
    fn an_unknown_region_is_refused_with_what_was_given() {
        let error = run("0312345678", "XX", "".as_bytes(), Vec::new()).unwrap_err();
        assert!(format!("{error:#}").contains("\"XX\""), "{error:#}");
    }
}
