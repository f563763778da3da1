//! HTTP Digest authentication as SIP uses it (RFC 3261 §22, RFC 2617, RFC 7616, RFC 8760):
//! reading a registrar's `WWW-Authenticate`/`Proxy-Authenticate` challenge and answering it.
//!
//! Only what a client registering to a provider needs: MD5 and SHA-256 (plain, not `-sess`),
//! `qop=auth` with a client nonce and nonce count, or the RFC 2069 form when the challenge
//! offers no qop. `auth-int` and `userhash` are not offered by registrars in practice and are
//! not implemented: a challenge that only allows them is refused.

use std::fmt;

use md5::Md5;
use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

/// Longest challenge value we read; longer ones are refused (headers are bounded already,
/// this keeps one parameter from dominating).
const MAX_CHALLENGE: usize = 4096;

/// The hash a challenge asks for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Algorithm {
    /// `MD5` (also what an absent `algorithm` means).
    Md5,
    /// `SHA-256` (RFC 7616, RFC 8760); preferred when a registrar offers both.
    Sha256,
}

impl Algorithm {
    /// The token in `algorithm=`.
    pub fn as_str(self) -> &'static str {
        match self {
            Algorithm::Md5 => "MD5",
            Algorithm::Sha256 => "SHA-256",
        }
    }

    fn hash_hex(self, input: &[u8]) -> String {
        match self {
            Algorithm::Md5 => hex(&Md5::digest(input)),
            Algorithm::Sha256 => hex(&Sha256::digest(input)),
        }
    }
}

fn hex(bytes: &[u8]) -> String {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        out.push(char::from(HEX[usize::from(b >> 4)]));
        out.push(char::from(HEX[usize::from(b & 0x0f)]));
    }
    out
}

/// One Digest challenge a registrar sent.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Challenge {
    /// The protection space; shown to operators in logs.
    pub realm: String,
    /// The server's nonce.
    pub nonce: String,
    /// Echoed back unchanged.
    pub opaque: Option<String>,
    /// The hash to use.
    pub algorithm: Algorithm,
    /// The server offered `qop=auth`: answer with a cnonce and nonce count.
    pub qop_auth: bool,
    /// `stale=true`: our credentials were right but the nonce expired; retry with the new one.
    pub stale: bool,
}

/// Why a challenge cannot be answered.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ChallengeError {
    /// Not `Digest ...`.
    #[error("the challenge is not a Digest challenge")]
    NotDigest,
    /// Malformed parameters.
    #[error("the Digest challenge is malformed")]
    Malformed,
    /// No realm or no nonce.
    #[error("the Digest challenge lacks a realm or nonce")]
    Incomplete,
    /// An algorithm we do not implement (e.g. `SHA-512-256`, `-sess`).
    #[error("the Digest challenge asks for algorithm {0}, which is not supported")]
    Algorithm(String),
    /// A qop we do not implement (only `auth-int`).
    #[error("the Digest challenge allows only qop {0}, which is not supported")]
    Qop(String),
}

impl Challenge {
    /// Parses one challenge header value (`Digest realm="...", nonce="...", ...`).
    pub fn parse(value: &str) -> Result<Challenge, ChallengeError> {
        if value.len() > MAX_CHALLENGE {
            return Err(ChallengeError::Malformed);
        }
        let value = value.trim_start();
        let scheme_end = value
            .find(|c: char| c.is_ascii_whitespace())
            .ok_or(ChallengeError::NotDigest)?;
        let (scheme, rest) = value.split_at(scheme_end);
        if !scheme.eq_ignore_ascii_case("digest") {
            return Err(ChallengeError::NotDigest);
        }
        let params = parse_params(rest).ok_or(ChallengeError::Malformed)?;
        let get = |name: &str| {
            params
                .iter()
                .find(|(n, _)| n.eq_ignore_ascii_case(name))
                .map(|(_, v)| v.as_str())
        };
        let realm = get("realm").ok_or(ChallengeError::Incomplete)?.to_string();
        let nonce = get("nonce").ok_or(ChallengeError::Incomplete)?.to_string();
        let algorithm = match get("algorithm") {
            None => Algorithm::Md5,
            Some(a) if a.eq_ignore_ascii_case("MD5") => Algorithm::Md5,
            Some(a) if a.eq_ignore_ascii_case("SHA-256") => Algorithm::Sha256,
            Some(other) => return Err(ChallengeError::Algorithm(truncate(other))),
        };
        let qop_auth = match get("qop") {
            None => false,
            Some(list) => {
                let auth = list
                    .split(',')
                    .any(|q| q.trim().eq_ignore_ascii_case("auth"));
                if !auth {
                    return Err(ChallengeError::Qop(truncate(list)));
                }
                true
            }
        };
        let stale = get("stale").is_some_and(|s| s.eq_ignore_ascii_case("true"));
        Ok(Challenge {
            realm,
            nonce,
            opaque: get("opaque").map(str::to_owned),
            algorithm,
            qop_auth,
            stale,
        })
    }

    /// The challenge to answer among several (a registrar may offer one per algorithm,
    /// RFC 8760 §2.4): the strongest algorithm we implement. None when none can be answered.
    pub fn choose<'a>(values: impl IntoIterator<Item = &'a str>) -> Option<Challenge> {
        values
            .into_iter()
            .filter_map(|v| Challenge::parse(v).ok())
            .max_by_key(|c| c.algorithm)
    }
}

fn truncate(s: &str) -> String {
    s.chars().take(40).collect()
}

/// `name=value` or `name="quoted value"` pairs separated by commas; None when malformed.
fn parse_params(input: &str) -> Option<Vec<(String, String)>> {
    let mut out = Vec::new();
    let mut rest = input.trim_start();
    while !rest.is_empty() {
        let eq = rest.find('=')?;
        let name = rest.get(..eq)?.trim();
        if name.is_empty() || name.contains([',', '"', ' ']) {
            return None;
        }
        rest = rest.get(eq + 1..)?.trim_start();
        let value;
        if let Some(quoted) = rest.strip_prefix('"') {
            let mut v = String::new();
            let mut chars = quoted.char_indices();
            let mut end = None;
            while let Some((i, c)) = chars.next() {
                match c {
                    '\\' => v.push(chars.next()?.1),
                    '"' => {
                        end = Some(i + 1);
                        break;
                    }
                    c => v.push(c),
                }
            }
            value = v;
            rest = quoted.get(end?..)?;
        } else {
            let end = rest.find(',').unwrap_or(rest.len());
            value = rest.get(..end)?.trim().to_string();
            rest = rest.get(end..)?;
        }
        out.push((name.to_string(), value));
        rest = rest.trim_start();
        if let Some(r) = rest.strip_prefix(',') {
            rest = r.trim_start();
        } else if !rest.is_empty() {
            return None;
        }
        if out.len() > 32 {
            return None;
        }
    }
    Some(out)
}

/// A secret that never shows up in logs or `Debug` output and is wiped when dropped.
#[derive(Clone)]
pub struct Password(Zeroizing<String>);

impl Password {
    /// Wraps a secret.
    pub fn new(secret: String) -> Self {
        Password(Zeroizing::new(secret))
    }

    fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Password {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Password(<redacted>)")
    }
}

/// What an `Authorization` header is computed from besides the challenge.
#[derive(Debug)]
pub struct Credentials<'a> {
    /// The authentication user name.
    pub user: &'a str,
    /// Its secret.
    pub password: &'a Password,
}

/// Computes the `Authorization`/`Proxy-Authorization` value answering `challenge` for a
/// request with `method` and `uri`; `cnonce` and `nc` are used when the challenge offers
/// `qop=auth`.
pub fn authorization(
    challenge: &Challenge,
    credentials: &Credentials<'_>,
    method: &str,
    uri: &str,
    cnonce: &str,
    nc: u32,
) -> String {
    let alg = challenge.algorithm;
    let ha1_input = Zeroizing::new(format!(
        "{}:{}:{}",
        credentials.user,
        challenge.realm,
        credentials.password.expose()
    ));
    let ha1 = Zeroizing::new(alg.hash_hex(ha1_input.as_bytes()));
    let ha2 = alg.hash_hex(format!("{method}:{uri}").as_bytes());
    let nc_text = format!("{nc:08x}");
    let response = if challenge.qop_auth {
        alg.hash_hex(
            format!(
                "{}:{}:{nc_text}:{cnonce}:auth:{ha2}",
                ha1.as_str(),
                challenge.nonce
            )
            .as_bytes(),
        )
    } else {
        alg.hash_hex(format!("{}:{}:{ha2}", ha1.as_str(), challenge.nonce).as_bytes())
    };
    let mut out = format!(
        "Digest username=\"{}\", realm=\"{}\", nonce=\"{}\", uri=\"{}\", response=\"{response}\", algorithm={}",
        quote(credentials.user),
        quote(&challenge.realm),
        quote(&challenge.nonce),
        quote(uri),
        alg.as_str()
    );
    if challenge.qop_auth {
        out.push_str(&format!(
            ", cnonce=\"{}\", qop=auth, nc={nc_text}",
            quote(cnonce)
        ));
    }
    if let Some(opaque) = &challenge.opaque {
        out.push_str(&format!(", opaque=\"{}\"", quote(opaque)));
    }
    out
}

/// Escapes `"` and `\` inside a quoted-string.
fn quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if c == '"' || c == '\\' {
            out.push('\\');
        }
        // CR and LF would end the header: never copy them from a challenge.
        if c != '\r' && c != '\n' {
            out.push(c);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn param<'a>(header: &'a str, name: &str) -> &'a str {
        let key = format!("{name}=");
        let at = header.find(&key).unwrap() + key.len();
        let rest = &header[at..];
        let rest = rest.strip_prefix('"').unwrap_or(rest);
        let end = rest.find(['"', ',']).unwrap_or(rest.len());
        &rest[..end]
    }

    #[test]
    fn rfc_2617_md5_example_gives_its_response() {
        let c = Challenge::parse(
            "Digest realm=\"testrealm@host.com\", qop=\"auth,auth-int\", \
             nonce=\"dcd98b7102dd2f0e8b11d0f600bfb0c093\", opaque=\"5ccc069c403ebaf9f0171e9517f40e41\"",
        )
        .unwrap();
        assert_eq!(c.algorithm, Algorithm::Md5);
        assert!(c.qop_auth);
        let pw = Password::new("Circle Of Life".into());
        let h = authorization(
            &c,
            &Credentials {
                user: "Mufasa",
                password: &pw,
            },
            "GET",
            "/dir/index.html",
            "0a4f113b",
            1,
        );
        assert_eq!(param(&h, "response"), "6629fae49393a05397450978507c4ef1");
        assert_eq!(param(&h, "nc"), "00000001");
        assert_eq!(param(&h, "opaque"), "5ccc069c403ebaf9f0171e9517f40e41");
    }

    #[test]
    fn rfc_7616_sha256_example_gives_its_response() {
        let c = Challenge::parse(
            "Digest realm=\"http-auth@example.org\", qop=\"auth, auth-int\", algorithm=SHA-256, \
             nonce=\"7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v\", \
             opaque=\"FQhe/qaU925kfnzjCev0ciny7QMkPqMAFRtzCUYo5tdS\"",
        )
        .unwrap();
        assert_eq!(c.algorithm, Algorithm::Sha256);
        let pw = Password::new("Circle of Life".into());
        let h = authorization(
            &c,
            &Credentials {
                user: "Mufasa",
                password: &pw,
            },
            "GET",
            "/dir/index.html",
            "f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ",
            1,
        );
        assert_eq!(
            param(&h, "response"),
            "753927fa0e85d155564e2e272a28d1802ca10daf4496794697cf8db5856cb6c1"
        );
        assert!(h.contains("algorithm=SHA-256"));
    }

    #[test]
    fn without_qop_the_rfc_2069_form_is_used() {
        let c = Challenge::parse("Digest realm=\"r\", nonce=\"n\"").unwrap();
        let pw = Password::new("p".into());
        let h = authorization(
            &c,
            &Credentials {
                user: "u",
                password: &pw,
            },
            "REGISTER",
            "sip:r",
            "c",
            1,
        );
        // MD5(MD5(u:r:p):n:MD5(REGISTER:sip:r))
        let ha1 = Algorithm::Md5.hash_hex(b"u:r:p");
        let ha2 = Algorithm::Md5.hash_hex(b"REGISTER:sip:r");
        let want = Algorithm::Md5.hash_hex(format!("{ha1}:n:{ha2}").as_bytes());
        assert_eq!(param(&h, "response"), want);
        assert!(!h.contains("cnonce"));
        assert!(!h.contains("qop"));
    }

    #[test]
    fn sha256_is_preferred_when_both_are_offered() {
        let md5 = "Digest realm=\"r\", nonce=\"a\", algorithm=MD5, qop=\"auth\"";
        let sha = "Digest realm=\"r\", nonce=\"b\", algorithm=SHA-256, qop=\"auth\"";
        assert_eq!(
            Challenge::choose([md5, sha]).unwrap().algorithm,
            Algorithm::Sha256
        );
        assert_eq!(
            Challenge::choose([sha, md5]).unwrap().algorithm,
            Algorithm::Sha256
        );
        let odd = "Digest realm=\"r\", nonce=\"b\", algorithm=SHA-512-256";
        assert_eq!(
            Challenge::choose([odd, md5]).unwrap().algorithm,
            Algorithm::Md5
        );
        assert_eq!(Challenge::choose([odd]), None);
    }

    #[test]
    fn stale_and_bad_challenges() {
        let c = Challenge::parse("digest nonce=\"x\",realm=\"r\",stale=TRUE").unwrap();
        assert!(c.stale);
        assert_eq!(
            Challenge::parse("Basic realm=\"r\""),
            Err(ChallengeError::NotDigest)
        );
        assert_eq!(
            Challenge::parse("Digest realm=\"r\""),
            Err(ChallengeError::Incomplete)
        );
        assert_eq!(
            Challenge::parse("Digest realm=\"r, nonce=x"),
            Err(ChallengeError::Malformed)
        );
        assert!(matches!(
            Challenge::parse("Digest realm=\"r\", nonce=\"n\", qop=\"auth-int\""),
            Err(ChallengeError::Qop(_))
        ));
        assert!(matches!(
            Challenge::parse("Digest realm=\"r\", nonce=\"n\", algorithm=MD5-sess"),
            Err(ChallengeError::Algorithm(_))
        ));
        // Hostile input never panics.
        for s in [
            "Digest",
            "Digest ",
            "Digest =",
            "Digest a=\"\\",
            "Digest a=\"x\"y",
            "Digest ,,,",
        ] {
            let _ = Challenge::parse(s);
        }
    }

    #[test]
    fn quotes_and_line_breaks_from_a_challenge_cannot_break_the_header() {
        let c = Challenge::parse("Digest realm=\"a\\\"b\", nonce=\"n\r\nX: y\"").unwrap();
        let pw = Password::new("p".into());
        let h = authorization(
            &c,
            &Credentials {
                user: "u",
                password: &pw,
            },
            "REGISTER",
            "sip:r",
            "c",
            1,
        );
        assert!(!h.contains('\r') && !h.contains('\n'));
        assert!(h.contains("realm=\"a\\\"b\""));
    }

    #[test]
    fn a_password_is_never_in_debug_output() {
        let pw = Password::new("hunter2".into());
        assert!(!format!("{pw:?}").contains("hunter2"));
        let creds = Credentials {
            user: "u",
            password: &pw,
        };
        assert!(!format!("{creds:?}").contains("hunter2"));
    }
}
