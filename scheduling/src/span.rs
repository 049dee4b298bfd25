//! Half-open UTC intervals and the set operations working hours are built with.

use chrono::{DateTime, Utc};

/// `[start, end)` in UTC.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Span {
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
}

impl Span {
    pub fn contains(&self, other: Span) -> bool {
        self.start <= other.start && other.end <= self.end
    }
}

/// The union of `spans` as sorted, disjoint, non-touching, non-empty spans.
pub(crate) fn union(mut spans: Vec<Span>) -> Vec<Span> {
    spans.retain(|s| s.start < s.end);
    spans.sort_unstable_by_key(|s| s.start);
    let mut out: Vec<Span> = Vec::with_capacity(spans.len());
    for s in spans {
        match out.last_mut() {
            Some(last) if s.start <= last.end => last.end = last.end.max(s.end),
            _ => out.push(s),
        }
    }
    out
}

/// `base` minus `cuts`; both sorted and disjoint, as [`union`] returns them.
pub(crate) fn subtract(base: &[Span], cuts: &[Span]) -> Vec<Span> {
    let mut out = Vec::with_capacity(base.len() + cuts.len());
    let mut first_cut = 0;
    for b in base {
        while cuts.get(first_cut).is_some_and(|c| c.end <= b.start) {
            first_cut += 1;
        }
        let mut from = b.start;
        for c in cuts[first_cut..].iter().take_while(|c| c.start < b.end) {
            if from < c.start {
                out.push(Span {
                    start: from,
                    end: c.start,
                });
            }
            from = from.max(c.end);
        }
        if from < b.end {
            out.push(Span {
                start: from,
                end: b.end,
            });
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn s(a: u32, b: u32) -> Span {
        let at = |h| Utc.with_ymd_and_hms(2026, 5, 4, h, 0, 0).unwrap();
        Span {
            start: at(a),
            end: at(b),
        }
    }

    #[test]
    fn union_merges_overlapping_and_touching_and_drops_empty() {
        let got = union(vec![
            s(15, 19),
            s(9, 13),
            s(12, 14),
            s(14, 15),
            s(20, 20),
            s(21, 22),
        ]);
        assert_eq!(got, [s(9, 19), s(21, 22)]);
    }

    #[test]
    fn subtract_cuts_pieces_out() {
        let base = [s(9, 13), s(15, 20)];
        assert_eq!(subtract(&base, &[]), base);
        assert_eq!(
            subtract(&base, &[s(10, 11)]),
            [s(9, 10), s(11, 13), s(15, 20)]
        );
        assert_eq!(subtract(&base, &[s(12, 16)]), [s(9, 12), s(16, 20)]);
        assert_eq!(subtract(&base, &[s(8, 9), s(13, 15)]), base);
        assert_eq!(
            subtract(&base, &[s(9, 13), s(16, 17), s(18, 19)]),
            [s(15, 16), s(17, 18), s(19, 20)]
        );
        assert_eq!(subtract(&base, &[s(0, 23)]), []);
    }
}
