//! Booking numbers people can read over the phone: `BK-` and six characters from an
//! alphabet without look-alikes (no 0/O, 1/I).

const ALPHABET: &[u8; 32] = b"23456789ABCDEFGHJKLMNPQRSTUVWXYZ";

/// A fresh random booking number. Uniqueness is the database's job (a unique index);
/// callers retry on the rare collision.
pub fn generate() -> String {
    let bytes: [u8; 6] = rand::random();
    let mut out = String::with_capacity(9);
    out.push_str("BK-");
    for b in bytes {
        out.push(char::from(ALPHABET[usize::from(b) % ALPHABET.len()]));
    }
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn numbers_are_readable() {
        for _ in 0..1000 {
            let n = super::generate();
            assert_eq!(n.len(), 9);
            assert!(n.starts_with("BK-"));
            assert!(n[3..].bytes().all(|b| super::ALPHABET.contains(&b)), "{n}");
            assert!(!n[3..].contains(['0', 'O', '1', 'I']));
        }
    }
}
