//! HTTP/1.x heads as the proxy needs them: read up to a size cap, parsed with
//! httparse, the target taken apart, and a plain request rewritten for the origin
//! server. Bodies are never read here; they stream through untouched.

use super::allow::normalize_host;
use tokio::io::{AsyncRead, AsyncReadExt};

const MAX_HEADERS: usize = 100;

/// Headers that belong to one connection, not to the message (RFC 9110 7.6.1):
/// dropped both ways. `Transfer-Encoding` stays: the body is passed on as framed.
const HOP_BY_HOP: &[&str] = &[
    "connection",
    "proxy-connection",
    "keep-alive",
    "proxy-authorization",
    "proxy-authenticate",
    "te",
    "trailer",
    "upgrade",
];

#[derive(Debug, PartialEq, Eq)]
pub enum HeadError {
    /// The peer closed before a whole head came.
    Closed,
    TooLarge,
    Malformed(String),
    Io(String),
}

/// A head and what came after it in the same reads (body or tunnel bytes).
pub struct Head {
    pub bytes: Vec<u8>,
    pub len: usize,
}

impl Head {
    pub fn rest(&self) -> &[u8] {
        &self.bytes[self.len..]
    }
}

/// Reads until a whole head is in, at most `cap` bytes of it, starting with bytes
/// already read (`carried`).
pub async fn read_head(
    stream: &mut (impl AsyncRead + Unpin),
    cap: usize,
    is_response: bool,
    carried: Vec<u8>,
) -> Result<Head, HeadError> {
    let mut bytes = carried;
    let mut chunk = [0u8; 4096];
    loop {
        let whole = if bytes.is_empty() {
            None
        } else {
            head_len(&bytes, is_response)?
        };
        match whole {
            Some(len) if len <= cap => return Ok(Head { bytes, len }),
            Some(_) => return Err(HeadError::TooLarge),
            None => {}
        }
        if bytes.len() > cap {
            return Err(HeadError::TooLarge);
        }
        let n = stream
            .read(&mut chunk)
            .await
            .map_err(|e| HeadError::Io(e.to_string()))?;
        if n == 0 {
            return Err(HeadError::Closed);
        }
        bytes.extend_from_slice(&chunk[..n]);
    }
}

fn head_len(bytes: &[u8], is_response: bool) -> Result<Option<usize>, HeadError> {
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let status = if is_response {
        httparse::Response::new(&mut headers).parse(bytes)
    } else {
        httparse::Request::new(&mut headers).parse(bytes)
    };
    match status {
        Ok(httparse::Status::Complete(len)) => Ok(Some(len)),
        Ok(httparse::Status::Partial) => Ok(None),
        Err(httparse::Error::TooManyHeaders) => Err(HeadError::TooLarge),
        Err(e) => Err(HeadError::Malformed(e.to_string())),
    }
}

/// What a sandbox asked the proxy for.
#[derive(Debug, PartialEq, Eq)]
pub struct Request {
    /// Normalised (see [`normalize_host`]).
    pub host: String,
    pub port: u16,
    /// For a plain request, the head to send to the origin server; None for CONNECT.
    pub forward: Option<Vec<u8>>,
}

pub fn parse_request(head: &Head) -> Result<Request, String> {
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut req = httparse::Request::new(&mut headers);
    req.parse(&head.bytes[..head.len])
        .map_err(|e| e.to_string())?;
    let (Some(method), Some(target)) = (req.method, req.path) else {
        return Err("an incomplete request line".into());
    };
    if method == "CONNECT" {
        let (host, port) = authority(target, None)?;
        return Ok(Request {
            host,
            port,
            forward: None,
        });
    }
    let rest = target
        .get(..7)
        .filter(|scheme| scheme.eq_ignore_ascii_case("http://"))
        .map(|_| &target[7..])
        .ok_or("only CONNECT and absolute http:// requests go through this proxy")?;
    let split = rest.find(['/', '?']).unwrap_or(rest.len());
    let (auth, path) = rest.split_at(split);
    let (host, port) = authority(auth, Some(80))?;
    let path = match path {
        "" => "/".to_owned(),
        p if p.starts_with('?') => format!("/{p}"),
        p => p.to_owned(),
    };
    let version = req.version.unwrap_or(1);
    let mut out = format!("{method} {path} HTTP/1.{version}\r\nHost: {auth}\r\n").into_bytes();
    // The origin sees the host the proxy checked, not a Host header naming another
    // site on the same server.
    write_headers(&mut out, req.headers, &["host"]);
    Ok(Request {
        host,
        port,
        forward: Some(out),
    })
}

/// The response head to pass back: hop-by-hop headers off, `Connection: close` on,
/// since the proxy serves one request per connection.
pub fn rewrite_response(head: &Head) -> Result<(u16, Vec<u8>), String> {
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut res = httparse::Response::new(&mut headers);
    res.parse(&head.bytes[..head.len])
        .map_err(|e| e.to_string())?;
    let code = res.code.unwrap_or(502);
    let reason = res.reason.unwrap_or("");
    let version = res.version.unwrap_or(1);
    let mut out = format!("HTTP/1.{version} {code} {reason}\r\n").into_bytes();
    write_headers(&mut out, res.headers, &[]);
    Ok((code, out))
}

/// Copies the headers but the hop-by-hop ones, those `Connection` names, and `also`,
/// then ends the head with `Connection: close`.
fn write_headers(out: &mut Vec<u8>, headers: &[httparse::Header<'_>], also: &[&str]) {
    let named: Vec<String> = headers
        .iter()
        .filter(|h| h.name.eq_ignore_ascii_case("connection"))
        .flat_map(|h| {
            String::from_utf8_lossy(h.value)
                .split(',')
                .map(|s| s.trim().to_ascii_lowercase())
                .collect::<Vec<_>>()
        })
        .collect();
    for header in headers {
        let name = header.name.to_ascii_lowercase();
        if HOP_BY_HOP.contains(&name.as_str())
            || also.contains(&name.as_str())
            || named.contains(&name)
        {
            continue;
        }
        out.extend_from_slice(header.name.as_bytes());
        out.extend_from_slice(b": ");
        out.extend_from_slice(header.value);
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(b"Connection: close\r\n\r\n");
}

/// `host:port` or `[v6]:port`, with `default_port` when none is given.
fn authority(auth: &str, default_port: Option<u16>) -> Result<(String, u16), String> {
    if auth.contains('@') {
        return Err("credentials in the address are not accepted".into());
    }
    let (host, port) = match auth.rfind(':') {
        Some(i) if !auth[i..].contains(']') => (&auth[..i], Some(&auth[i + 1..])),
        _ => (auth, None),
    };
    let port = match (port, default_port) {
        (Some(p), _) => p.parse::<u16>().ok().filter(|p| *p != 0),
        (None, default) => default,
    }
    .ok_or_else(|| format!("{auth:?} does not name a port"))?;
    let host = normalize_host(host).ok_or_else(|| format!("{host:?} is not a host name"))?;
    Ok((host, port))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn head(text: &str) -> Head {
        Head {
            bytes: text.as_bytes().to_vec(),
            len: text.find("\r\n\r\n").unwrap() + 4,
        }
    }

    #[test]
    fn a_connect_names_its_host_and_port() {
        let r = parse_request(&head(
            "CONNECT PyPI.org.:443 HTTP/1.1\r\nHost: pypi.org:443\r\n\r\n",
        ));
        assert_eq!(
            r,
            Ok(Request {
                host: "pypi.org".into(),
                port: 443,
                forward: None
            })
        );
        let r = parse_request(&head("CONNECT [::1]:8443 HTTP/1.1\r\n\r\n")).unwrap();
        assert_eq!((r.host.as_str(), r.port), ("::1", 8443));
        assert!(parse_request(&head("CONNECT pypi.org HTTP/1.1\r\n\r\n")).is_err());
    }

    #[test]
    fn a_plain_request_is_rewritten_for_the_origin() {
        let r = parse_request(&head(
            "GET http://registry.test:8080/simple/x?y=1 HTTP/1.1\r\nHost: elsewhere.example\r\n\
             Proxy-Connection: keep-alive\r\nConnection: X-Private\r\nX-Private: 1\r\nAccept: */*\r\n\r\n",
        ))
        .unwrap();
        assert_eq!((r.host.as_str(), r.port), ("registry.test", 8080));
        assert_eq!(
            String::from_utf8(r.forward.unwrap()).unwrap(),
            "GET /simple/x?y=1 HTTP/1.1\r\nHost: registry.test:8080\r\nAccept: */*\r\nConnection: close\r\n\r\n"
        );
        let r = parse_request(&head("GET http://deb.debian.org HTTP/1.0\r\n\r\n")).unwrap();
        assert_eq!(
            (r.port, r.forward.unwrap()[..21].to_vec()),
            (80, b"GET / HTTP/1.0\r\nHost:".to_vec())
        );
    }

    #[test]
    fn requests_that_are_not_for_a_proxy_are_refused() {
        for bad in [
            "GET /simple/ HTTP/1.1\r\n\r\n",
            "GET https://pypi.org/ HTTP/1.1\r\n\r\n",
            "GET http://user:pw@pypi.org/ HTTP/1.1\r\n\r\n",
            "GET http://pypi.org:0/ HTTP/1.1\r\n\r\n",
            "GET http://py%70i.org/ HTTP/1.1\r\n\r\n",
        ] {
            assert!(parse_request(&head(bad)).is_err(), "{bad}");
        }
    }

    #[test]
    fn a_response_is_passed_back_to_close() {
        let (code, out) = rewrite_response(&head(
            "HTTP/1.1 200 OK\r\nContent-Length: 3\r\nConnection: keep-alive\r\nKeep-Alive: timeout=5\r\n\r\nabc",
        ))
        .unwrap();
        assert_eq!(code, 200);
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "HTTP/1.1 200 OK\r\nContent-Length: 3\r\nConnection: close\r\n\r\n"
        );
    }

    #[tokio::test]
    async fn a_head_is_read_up_to_its_cap_with_what_follows() {
        let mut input: &[u8] = b"CONNECT a.org:443 HTTP/1.1\r\n\r\n\x16\x03";
        let head = read_head(&mut input, 1024, false, Vec::new())
            .await
            .unwrap();
        assert_eq!(head.rest(), b"\x16\x03");
        let big = format!(
            "GET http://a.org/ HTTP/1.1\r\nX: {}\r\n\r\n",
            "y".repeat(5000)
        );
        let mut input = big.as_bytes();
        assert!(matches!(
            read_head(&mut input, 1024, false, Vec::new()).await,
            Err(HeadError::TooLarge)
        ));
        // Whole in one read, and still too large.
        let whole = big.replace(&"y".repeat(3000), "");
        let mut input = whole.as_bytes();
        assert!(matches!(
            read_head(&mut input, 1024, false, Vec::new()).await,
            Err(HeadError::TooLarge)
        ));
        let mut input: &[u8] = b"GET http://a.org/ HTTP/1.1\r\n";
        assert!(matches!(
            read_head(&mut input, 1024, false, Vec::new()).await,
            Err(HeadError::Closed)
        ));
    }
}
