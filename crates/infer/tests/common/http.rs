//! A minimal HTTP/1.1 client over one keep-alive TCP connection, for testing `infer serve`
//! without a client crate: requests with a Content-Length body, responses with a
//! Content-Length (what hyper sends for complete bodies).

use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

#[derive(Debug)]
pub struct Client {
    reader: BufReader<TcpStream>,
    writer: TcpStream,
}

#[derive(Debug)]
pub struct Response {
    pub status: u16,
    pub content_type: String,
    pub body: String,
}

impl Response {
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.body))
    }

    /// The message of an `{"error": "..."}` answer, after checking its status.
    pub fn error(&self, status: u16) -> String {
        assert_eq!(self.status, status, "{}", self.body);
        let json = self.json();
        json["error"]
            .as_str()
            .unwrap_or_else(|| panic!("no error message: {json}"))
            .to_string()
    }
}

fn invalid(what: String) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, what)
}

impl Client {
    pub fn connect(addr: SocketAddr) -> io::Result<Self> {
        let stream = TcpStream::connect(addr)?;
        stream.set_read_timeout(Some(Duration::from_secs(30)))?;
        stream.set_nodelay(true)?;
        Ok(Self {
            reader: BufReader::new(stream.try_clone()?),
            writer: stream,
        })
    }

    pub fn get(&mut self, path: &str) -> io::Result<Response> {
        self.send("GET", path, b"")
    }

    pub fn post(&mut self, path: &str, body: &str) -> io::Result<Response> {
        self.send("POST", path, body.as_bytes())
    }

    pub fn send(&mut self, method: &str, path: &str, body: &[u8]) -> io::Result<Response> {
        let head = format!(
            "{method} {path} HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n\
             Content-Length: {}\r\n\r\n",
            body.len()
        );
        // A server may answer and close before reading a body it refuses (413): then the
        // write fails but the answer is there to read.
        let written = self
            .writer
            .write_all(head.as_bytes())
            .and_then(|()| self.writer.write_all(body))
            .and_then(|()| self.writer.flush());
        let mut line = String::new();
        match (self.reader.read_line(&mut line), written) {
            (Ok(n), _) if n > 0 => {}
            (_, Err(e)) | (Err(e), _) => return Err(e),
            (Ok(_), Ok(())) => return Err(invalid("connection closed".into())),
        }
        let status = line
            .split_whitespace()
            .nth(1)
            .and_then(|s| s.parse().ok())
            .ok_or_else(|| invalid(format!("status line {line:?}")))?;
        let (mut length, mut content_type) = (None, String::new());
        loop {
            line.clear();
            if self.reader.read_line(&mut line)? == 0 {
                return Err(invalid("connection closed in the headers".into()));
            }
            let header = line.trim_end();
            if header.is_empty() {
                break;
            }
            if let Some((name, value)) = header.split_once(':') {
                match name.to_ascii_lowercase().as_str() {
                    "content-length" => length = value.trim().parse::<usize>().ok(),
                    "content-type" => content_type = value.trim().to_string(),
                    _ => {}
                }
            }
        }
        let length = length.ok_or_else(|| invalid("no Content-Length".into()))?;
        let mut body = vec![0; length];
        self.reader.read_exact(&mut body)?;
        Ok(Response {
            status,
            content_type,
            body: String::from_utf8(body).map_err(|e| invalid(e.to_string()))?,
        })
    }
}
