//! Header names, compact forms and methods.

use super::*;
use std::collections::hash_map::DefaultHasher;

#[test]
fn method_parse_is_case_sensitive_and_keeps_extensions() {
    assert_eq!(Method::parse("INVITE"), Some(Method::Invite));
    assert_eq!(Method::parse("PUBLISH"), Some(Method::Publish));
    assert_eq!(
        Method::parse("invite"),
        Some(Method::Extension("invite".into()))
    );
    assert_eq!(Method::parse("FOO"), Some(Method::Extension("FOO".into())));
    assert_eq!(Method::parse(""), None);
    assert_eq!(Method::parse("IN VITE"), None);
    assert_eq!(Method::parse("INVITE:"), None);
    assert_eq!(Method::Extension("FOO".into()).to_string(), "FOO");
    assert_eq!(Method::Info.as_str(), "INFO");
}

#[test]
fn header_names_compare_case_insensitively() {
    assert_eq!(HeaderName::parse("CALL-id"), HeaderName::CallId);
    assert_eq!(HeaderName::parse("I"), HeaderName::CallId);
    assert_eq!(HeaderName::parse("cseq").as_str(), "CSeq");
    let a = HeaderName::parse("X-Foo");
    let b = HeaderName::parse("x-FOO");
    assert_eq!(a, b);
    assert_ne!(a, HeaderName::parse("X-Bar"));
    assert_eq!(a.as_str(), "X-Foo");
    let hash = |h: &HeaderName| {
        let mut s = DefaultHasher::new();
        h.hash(&mut s);
        s.finish()
    };
    assert_eq!(hash(&a), hash(&b));
    assert_ne!(HeaderName::Via, HeaderName::From);
    assert_eq!(
        HeaderName::parse("a-header-name-longer-than-twenty"),
        HeaderName::Other("A-HEADER-NAME-LONGER-THAN-TWENTY".into())
    );
}
