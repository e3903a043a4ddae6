//! Just enough HTTP/1.1 for part 6's `POST /login`, and for reading the body
//! of a refused upgrade to its end.
//!
//! No HTTP client crate is in the tree, and one request with a form body
//! does not need one: we send the request with `Connection: close`, read the
//! status line and the headers, then the body, `Content-Length` bytes of it
//! when the server says how many, otherwise up to the end of the connection.

use anyhow::{Context, Result, bail};
use std::io;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio_tungstenite::tungstenite::http::StatusCode;

/// The most of an answer we keep: a token or a reason is a few dozen bytes,
/// and a server that sends more should not fill our memory.
const MAX_ANSWER: usize = 64 * 1024;

/// A server's answer: its status and its whole body.
#[derive(Debug)]
pub(crate) struct Answer {
    pub status: StatusCode,
    pub body: Vec<u8>,
}

impl Answer {
    /// The body as text, for a message; invalid UTF-8 is replaced, not fatal.
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).trim_end().to_string()
    }
}

/// Sends `POST path` with `fields` as an `application/x-www-form-urlencoded`
/// body over `stream`, and reads the answer to its end.
pub(crate) async fn post_form<S>(
    stream: &mut S,
    host: &str,
    path: &str,
    fields: &[(&str, &str)],
) -> Result<Answer>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let body = fields
        .iter()
        .map(|(name, value)| format!("{}={}", form_encode(name), form_encode(value)))
        .collect::<Vec<_>>()
        .join("&");
    let request = format!(
        "POST {path} HTTP/1.1\r\n\
         Host: {host}\r\n\
         Content-Type: application/x-www-form-urlencoded\r\n\
         Content-Length: {}\r\n\
         Connection: close\r\n\
         \r\n\
         {body}",
        body.len()
    );
    stream
        .write_all(request.as_bytes())
        .await
        .context("sending the request")?;
    // A TLS stream holds the last record until flushed.
    stream.flush().await.context("sending the request")?;
    read_answer(stream).await
}

/// Reads a status line, headers and body, as the answer to a request sent
/// with `Connection: close`.
async fn read_answer<S>(stream: &mut S) -> Result<Answer>
where
    S: AsyncRead + Unpin,
{
    let mut received = Vec::new();
    let head_end = loop {
        if let Some(at) = find(&received, b"\r\n\r\n") {
            break at;
        }
        if received.len() > MAX_ANSWER {
            bail!("the answer's headers are longer than {MAX_ANSWER} bytes");
        }
        if read_some(stream, &mut received)
            .await
            .context("reading the answer")?
            == 0
        {
            bail!("the server closed the connection before it answered");
        }
    };
    let head = String::from_utf8_lossy(&received[..head_end]).into_owned();
    let mut lines = head.split("\r\n");
    let status_line = lines.next().unwrap_or_default();
    let status = status_line
        .split(' ')
        .nth(1)
        .and_then(|code| code.parse::<u16>().ok())
        .and_then(|code| StatusCode::from_u16(code).ok())
        .with_context(|| format!("not an HTTP status line: {status_line:?}"))?;
    let mut length = None;
    for line in lines {
        let Some((name, value)) = line.split_once(':') else {
            continue;
        };
        let value = value.trim();
        if name.eq_ignore_ascii_case("content-length") {
            length = Some(
                value
                    .parse::<usize>()
                    .with_context(|| format!("Content-Length is not a number: {value:?}"))?,
            );
        } else if name.eq_ignore_ascii_case("transfer-encoding")
            && value.to_ascii_lowercase().contains("chunked")
        {
            // Only needed for bodies of unknown size; a token or a reason has one.
            bail!("the server sent a chunked body, which this small client does not read");
        }
    }
    let start = received.len().min(head_end + 4);
    let body = read_body(stream, received.split_off(start), length)
        .await
        .context("reading the answer's body")?;
    Ok(Answer { status, body })
}

/// Reads the rest of a body of which `body` holds the start: up to `length`
/// bytes when it is known, otherwise up to the end of the connection.
pub(crate) async fn read_body<S>(
    stream: &mut S,
    mut body: Vec<u8>,
    length: Option<usize>,
) -> io::Result<Vec<u8>>
where
    S: AsyncRead + Unpin,
{
    let wanted = length.unwrap_or(MAX_ANSWER).min(MAX_ANSWER);
    while body.len() < wanted {
        match read_some(stream, &mut body).await {
            Ok(0) if length.is_some() => {
                return Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    format!("the body ended after {} of its {wanted} bytes", body.len()),
                ));
            }
            Ok(0) => break,
            Ok(_) => {}
            // A TLS server may close without a close_notify; when only the
            // end of the connection delimits the body, that still ends it.
            Err(err) if length.is_none() && err.kind() == io::ErrorKind::UnexpectedEof => break,
            Err(err) => return Err(err),
        }
    }
    body.truncate(wanted);
    Ok(body)
}

/// Appends what one read gives to `buffer`, and says how many bytes that was.
async fn read_some<S>(stream: &mut S, buffer: &mut Vec<u8>) -> io::Result<usize>
where
    S: AsyncRead + Unpin,
{
    let mut chunk = [0u8; 4096];
    let count = stream.read(&mut chunk).await?;
    buffer.extend_from_slice(&chunk[..count]);
    Ok(count)
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack
        .windows(needle.len())
        .position(|window| window == needle)
}

/// Encodes one name or value of an `application/x-www-form-urlencoded` body,
/// as the WHATWG URL standard does: a space becomes `+`, and every byte of the
/// UTF-8 but `A-Z a-z 0-9 * - . _` becomes `%XX`.
pub(crate) fn form_encode(text: &str) -> String {
    let mut encoded = String::with_capacity(text.len());
    for byte in text.bytes() {
        match byte {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'*' | b'-' | b'.' | b'_' => {
                encoded.push(char::from(byte));
            }
            b' ' => encoded.push('+'),
            _ => encoded.push_str(&format!("%{byte:02X}")),
        }
    }
    encoded
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn form_encoding_escapes_all_but_the_safe_bytes() {
        assert_eq!(form_encode("alice"), "alice");
        assert_eq!(form_encode("a b&c=d+e"), "a+b%26c%3Dd%2Be");
        assert_eq!(form_encode("pässwörd%"), "p%C3%A4ssw%C3%B6rd%25");
        assert_eq!(form_encode("*-._~"), "*-._%7E");
    }

    #[tokio::test]
    async fn an_answer_is_read_to_its_content_length() {
        let raw = b"HTTP/1.1 401 Unauthorized\r\ncontent-length: 5\r\n\r\nwrongEXTRA";
        let answer = read_answer(&mut &raw[..]).await.expect("an answer");
        assert_eq!(answer.status, StatusCode::UNAUTHORIZED);
        assert_eq!(answer.body, b"wrong");
    }

    #[tokio::test]
    async fn an_answer_without_a_length_is_read_to_the_end() {
        let raw = b"HTTP/1.1 200 OK\r\n\r\ntoken\n";
        let answer = read_answer(&mut &raw[..]).await.expect("an answer");
        assert_eq!(answer.status, StatusCode::OK);
        assert_eq!(answer.text(), "token");
    }

    #[tokio::test]
    async fn a_short_body_or_a_missing_head_is_an_error() {
        let short = b"HTTP/1.1 200 OK\r\ncontent-length: 9\r\n\r\nabc";
        assert!(read_answer(&mut &short[..]).await.is_err());
        let no_head = b"HTTP/1.1 200 OK\r\n";
        assert!(read_answer(&mut &no_head[..]).await.is_err());
        let garbage = b"hello\r\n\r\n";
        assert!(read_answer(&mut &garbage[..]).await.is_err());
    }
}
