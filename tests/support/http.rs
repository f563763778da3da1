//! A tiny blocking HTTP/1.1 client for the admin API tests (one request per connection).

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

/// One HTTP response.
#[derive(Debug, Clone)]
pub struct HttpResponse {
    /// Status code.
    pub status: u16,
    /// Header lines (name lower-cased).
    pub headers: Vec<(String, String)>,
    /// Body as text.
    pub body: String,
}

impl HttpResponse {
    /// The body parsed as JSON.
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.body))
    }

    /// First header with this (lower-case) name.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    /// All `Set-Cookie` values as `name=value` pairs.
    pub fn cookies(&self) -> Vec<String> {
        self.headers
            .iter()
            .filter(|(n, _)| n == "set-cookie")
            .filter_map(|(_, v)| v.split(';').next().map(str::to_string))
            .collect()
    }
}

/// Sends one request; `headers` are extra header lines.
pub fn request(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: Option<(&str, &str)>,
) -> HttpResponse {
    try_request(addr, method, path, headers, body).expect("HTTP exchange with the admin server")
}

/// Sends one request; an error when the connection fails or the response is cut short
/// (for tests that kill the server mid-request).
pub fn try_request(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: Option<(&str, &str)>,
) -> std::io::Result<HttpResponse> {
    let mut stream = TcpStream::connect(addr)?;
    stream.set_read_timeout(Some(Duration::from_secs(10))).ok();
    let mut req = format!("{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n");
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    match body {
        Some((ctype, b)) => {
            req.push_str(&format!(
                "Content-Type: {ctype}\r\nContent-Length: {}\r\n\r\n{b}",
                b.len()
            ));
        }
        None => req.push_str("Content-Length: 0\r\n\r\n"),
    }
    stream.write_all(req.as_bytes())?;
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw)?;
    let text = String::from_utf8_lossy(&raw).to_string();
    let cut_short = || std::io::Error::new(std::io::ErrorKind::UnexpectedEof, "response cut short");
    let (head, body) = text.split_once("\r\n\r\n").ok_or_else(cut_short)?;
    let mut lines = head.lines();
    let status = lines
        .next()
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|s| s.parse().ok())
        .ok_or_else(cut_short)?;
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    let chunked = headers
        .iter()
        .any(|(k, v)| k == "transfer-encoding" && v.contains("chunked"));
    let length = headers
        .iter()
        .find(|(k, _)| k == "content-length")
        .and_then(|(_, v)| v.parse::<usize>().ok());
    if length.is_some_and(|n| n != body.len()) {
        return Err(cut_short());
    }
    let body = if chunked {
        dechunk(body)
    } else {
        body.to_string()
    };
    if let Ok(v) = serde_json::from_str::<serde_json::Value>(&body) {
        super::remember_json_secrets(&v);
    }
    Ok(HttpResponse {
        status,
        headers,
        body,
    })
}

fn dechunk(mut s: &str) -> String {
    let mut out = String::new();
    while let Some((size, rest)) = s.split_once("\r\n") {
        let Ok(n) = usize::from_str_radix(size.trim(), 16) else {
            break;
        };
        if n == 0 || rest.len() < n {
            break;
        }
        out.push_str(&rest[..n]);
        s = rest[n..].trim_start_matches("\r\n");
    }
    out
}

/// An admin API client with a bearer token.
pub struct Api {
    /// Server address.
    pub addr: SocketAddr,
    /// Admin token.
    pub token: String,
}

impl Api {
    /// GET with the token.
    pub fn get(&self, path: &str) -> HttpResponse {
        let auth = format!("Bearer {}", self.token);
        request(self.addr, "GET", path, &[("Authorization", &auth)], None)
    }

    /// A JSON request with the token.
    pub fn send(&self, method: &str, path: &str, json: &serde_json::Value) -> HttpResponse {
        let auth = format!("Bearer {}", self.token);
        let body = json.to_string();
        request(
            self.addr,
            method,
            path,
            &[("Authorization", &auth)],
            Some(("application/json", &body)),
        )
    }

    /// POST without a body, with the token.
    pub fn post(&self, path: &str) -> HttpResponse {
        let auth = format!("Bearer {}", self.token);
        request(self.addr, "POST", path, &[("Authorization", &auth)], None)
    }
}
