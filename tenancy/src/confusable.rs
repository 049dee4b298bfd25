//! Look-alike detection for internationalized host names a person types: a label that
//! mixes Latin letters with Cyrillic or Greek ones (`аcme`, with a Cyrillic `а`), or —
//! under a Latin top-level domain — a label written wholly in Cyrillic or Greek letters
//! that all look like Latin ones (`аррӏе.com`), reads as a Latin name that it is not.

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Script {
    Latin,
    Greek,
    Cyrillic,
    Other,
}

fn script(c: char) -> Option<Script> {
    if !c.is_alphabetic() {
        return None;
    }
    Some(match u32::from(c) {
        0x0041..=0x024F | 0x1E00..=0x1EFF | 0x2C60..=0x2C7F | 0xA720..=0xA7FF => Script::Latin,
        0x0370..=0x03FF | 0x1F00..=0x1FFF => Script::Greek,
        0x0400..=0x052F | 0x2DE0..=0x2DFF | 0xA640..=0xA69F | 0x1C80..=0x1C8F => Script::Cyrillic,
        _ => Script::Other,
    })
}

/// Cyrillic and Greek letters that render like a Latin letter.
const LATIN_LOOKALIKES: &str = "аеорсухіјѕһԁԛԝӏвкмнтьзԍұүԛѵ\
                                ΑΒΕΖΗΙΚΜΝΟΡΤΥΧαοκνρτυιχ";

/// Why `label` (in Unicode form) would pass for a name it is not, if it would.
/// `latin_tld`: whether the name ends in a Latin (ASCII) top-level domain, where a
/// wholly Cyrillic label is suspicious; under `.рф` it is just Russian.
pub(crate) fn lookalike(label: &str, latin_tld: bool) -> Option<&'static str> {
    let scripts: Vec<Script> = label.chars().filter_map(script).collect();
    let has = |s: Script| scripts.contains(&s);
    if has(Script::Latin) && (has(Script::Cyrillic) || has(Script::Greek)) {
        return Some("mixes Latin letters with Cyrillic or Greek ones");
    }
    if has(Script::Cyrillic) && has(Script::Greek) {
        return Some("mixes Cyrillic and Greek letters");
    }
    let foreign: Vec<char> = label
        .chars()
        .filter(|c| matches!(script(*c), Some(Script::Cyrillic | Script::Greek)))
        .collect();
    if latin_tld
        && !foreign.is_empty()
        && foreign.iter().all(|c| {
            LATIN_LOOKALIKES.contains(*c) || c.to_lowercase().any(|l| LATIN_LOOKALIKES.contains(l))
        })
    {
        return Some("is written in letters that all look like Latin ones");
    }
    None
}

#[cfg(test)]
mod tests {
    use super::lookalike;

    #[test]
    fn flags_mixed_and_whole_script_lookalikes() {
        assert!(
            lookalike("аcme", true).is_some(),
            "Cyrillic а in a Latin name"
        );
        assert!(lookalike("аcme", false).is_some(), "mixed scripts anywhere");
        assert!(
            lookalike("аррӏе", true).is_some(),
            "all-Cyrillic apple under .com"
        );
        assert!(lookalike("ρayρal", true).is_some(), "Greek rho");
        assert!(lookalike("acme", true).is_none());
        assert!(lookalike("peluquería", true).is_none());
        assert!(
            lookalike("москва", false).is_none(),
            "a Cyrillic word under .рф"
        );
        assert!(lookalike("日本", true).is_none());
    }
}
