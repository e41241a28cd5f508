//! TLS on the pipe, HTTP and `--ircs` listeners (rustls; TLS 1.2 and 1.3
//! only), shared by the front doors; `--irc` stays plain text.
//!
//! A connection's TLS state is one `TlsChannel` that two sides use: its
//! thread opens what it reads (`Link`'s `Read`), and its outbox seals what
//! anybody writes (replies and pushed events) with `TlsChannel::seal`.
//! Sealing happens under the outbox's queue lock, so records leave in the
//! order they were sealed; the outbox then sends the sealed bytes exactly as
//! it sends plain ones (non-blocking, bounded queue).
//!
//! A client that sends text to a TLS listener (`http://` for an `https://`
//! port, a line typed at the pipe port) is told apart by its first byte
//! (`opening`) before any handshake, for its front door to answer in plain
//! text (`server::Door`), instead of rustls's alert, which it cannot read.
//!
//! Certificates are read at start-up (`TlsAcceptor::load`) and again on
//! SIGHUP (`TlsAcceptor::reload`): new connections get the new certificate,
//! open ones keep theirs.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::{Mutex, RwLock};
use rustls::client::WebPkiServerVerifier;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::pki_types::{ServerName, UnixTime};
use rustls::{
    ClientConfig, ClientConnection, Connection, RootCertStore, ServerConfig, ServerConnection,
};
use rustls::{DigitallySignedStruct, SignatureScheme};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};

/// Why TLS could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("{path}: cannot read the certificate: {reason}")]
    Certificate { path: PathBuf, reason: String },
    #[error("{path}: cannot read the private key: {reason}")]
    Key { path: PathBuf, reason: String },
    #[error("the certificate and key do not make a TLS configuration: {0}")]
    Config(String),
}

/// Where the certificate chain and its private key are (PEM files).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsFiles {
    pub cert: PathBuf,
    pub key: PathBuf,
}

/// Accepts TLS connections with the current certificate.
pub(crate) struct TlsAcceptor {
    files: TlsFiles,
    config: RwLock<Arc<ServerConfig>>,
}

impl TlsAcceptor {
    /// Reads the certificate and key.
    ///
    /// # Errors
    ///
    /// A file missing, unreadable or not PEM of the right kind, or a key
    /// that does not fit the certificate.
    pub(crate) fn load(files: TlsFiles) -> Result<TlsAcceptor, TlsError> {
        let config = server_config(&files)?;
        Ok(TlsAcceptor {
            files,
            config: RwLock::new(config),
        })
    }

    /// Reads the files again (a renewed certificate); on failure the
    /// current certificate stays.
    ///
    /// # Errors
    ///
    /// As [`TlsAcceptor::load`].
    pub(crate) fn reload(&self) -> Result<(), TlsError> {
        let config = server_config(&self.files)?;
        *self.config.write() = config;
        Ok(())
    }

    /// Performs the server side of a handshake on `stream`, which must end
    /// within `timeout`: a client that stalls, or trickles bytes, is dropped
    /// as a stalled request line would be.
    ///
    /// # Errors
    ///
    /// The handshake failed (a plain-text client, a bad record, a refused
    /// version) or timed out.
    pub(crate) fn handshake(
        &self,
        stream: &TcpStream,
        timeout: Duration,
    ) -> std::io::Result<Arc<TlsChannel>> {
        let config = Arc::clone(&self.config.read());
        let conn = ServerConnection::new(config).map_err(std::io::Error::other)?;
        handshake(conn.into(), stream, timeout)
    }
}

/// What a client of a TLS listener sent first.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Opening {
    /// A TLS record, nothing in time, or bytes of no kind known here: the
    /// handshake decides, and fails as it always did.
    Tls,
    /// Text (an HTTP request, a typed `/login|…`): a client that does not
    /// speak TLS, which rustls would answer with an alert it cannot read.
    PlainText,
}

/// Looks at the first byte a client of a TLS listener sent, without taking
/// it, waiting for it until `deadline`. Only printable ASCII or white space
/// counts as text, and no TLS client opens with such a byte: a TLS record
/// starts with its content type (a handshake is 22, 0x16), and an old
/// SSLv2-compatible hello with a length byte whose top bit is set (0x80 and
/// up). Either goes on to the handshake, which takes or refuses it as ever.
pub(crate) fn opening(stream: &TcpStream, deadline: Instant) -> Opening {
    let mut first = [0u8; 1];
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() || stream.set_read_timeout(Some(left)).is_err() {
            return Opening::Tls;
        }
        match stream.peek(&mut first) {
            Ok(1) if is_text(first[0]) => return Opening::PlainText,
            Err(err) if err.kind() == std::io::ErrorKind::Interrupted => continue,
            // A record, the end, a timeout or an error: the handshake meets
            // it again and says so.
            _ => return Opening::Tls,
        }
    }
}

/// Whether `byte` can start a line of text: printable ASCII or white space.
fn is_text(byte: u8) -> bool {
    byte.is_ascii_graphic() || byte.is_ascii_whitespace()
}

/// Whether a read failed only for want of data in time (a timeout, a
/// signal, or a TLS read that completed no record): the caller checks its
/// deadline and reads again.
pub(crate) fn is_wait(err: &std::io::Error) -> bool {
    matches!(
        err.kind(),
        std::io::ErrorKind::WouldBlock
            | std::io::ErrorKind::TimedOut
            | std::io::ErrorKind::Interrupted
    )
}

/// Completes `conn`'s handshake on `stream` within `timeout`, one read at a
/// time so that a peer trickling bytes cannot stretch it.
fn handshake(
    mut conn: Connection,
    stream: &TcpStream,
    timeout: Duration,
) -> std::io::Result<Arc<TlsChannel>> {
    let deadline = Instant::now() + timeout;
    let mut stream = stream;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(std::io::Error::new(
                std::io::ErrorKind::TimedOut,
                "the TLS handshake did not finish in time",
            ));
        }
        stream.set_write_timeout(Some(left))?;
        while conn.wants_write() {
            conn.write_tls(&mut stream)?;
        }
        if !conn.is_handshaking() {
            break;
        }
        stream.set_read_timeout(Some(left))?;
        match conn.read_tls(&mut stream) {
            Ok(0) => {
                return Err(std::io::Error::new(
                    std::io::ErrorKind::UnexpectedEof,
                    "the connection closed during the TLS handshake",
                ));
            }
            Ok(_) => {}
            Err(err) if is_wait(&err) => continue,
            Err(err) => return Err(err),
        }
        if let Err(err) = conn.process_new_packets() {
            // Tell the peer why (an alert), as far as it listens.
            while conn.wants_write() {
                if conn.write_tls(&mut stream).is_err() {
                    break;
                }
            }
            return Err(std::io::Error::new(std::io::ErrorKind::InvalidData, err));
        }
    }
    stream.set_read_timeout(None)?;
    stream.set_write_timeout(None)?;
    // Every seal drains what it produced at once, so no buffer limit is
    // needed (and one would make large writes fail to seal).
    conn.set_buffer_limit(None);
    Ok(Arc::new(TlsChannel {
        conn: Mutex::new(conn),
    }))
}

/// Opens TLS to a server on `stream` (the client's side), verifying its
/// certificate for `host` against `roots`.
///
/// # Errors
///
/// `host` is not a name or address, or the handshake failed: a certificate
/// that does not verify is [`std::io::ErrorKind::InvalidData`] with rustls's
/// reason inside.
pub(crate) fn connect(
    stream: &TcpStream,
    host: &str,
    roots: &ClientRoots,
    timeout: Duration,
) -> std::io::Result<Arc<TlsChannel>> {
    let name = ServerName::try_from(host.to_string()).map_err(|err| {
        std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            format!("{host} is not a host name for TLS: {err}"),
        )
    })?;
    let conn =
        ClientConnection::new(Arc::clone(&roots.config), name).map_err(std::io::Error::other)?;
    handshake(conn.into(), stream, timeout)
}

/// Whom a client trusts: the web's public roots, or a private CA.
#[derive(Clone)]
pub struct ClientRoots {
    config: Arc<ClientConfig>,
    /// Given by the user (`--tls-ca`), not the public authorities.
    private: bool,
}

impl std::fmt::Debug for ClientRoots {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ClientRoots")
    }
}

impl ClientRoots {
    /// The public certificate authorities browsers trust (`webpki-roots`).
    pub fn public() -> ClientRoots {
        let mut roots = RootCertStore::empty();
        roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
        ClientRoots::trusting(roots)
    }

    /// The rustls settings that trust these roots, for a driver that opens
    /// its own TLS (PostgreSQL's).
    pub(crate) fn client_config(&self) -> &ClientConfig {
        &self.config
    }

    /// Whether these are the user's own certificates (`private_ca`).
    pub fn is_private(&self) -> bool {
        self.private
    }

    /// Only the certificates in `path` (PEM): a private CA's, or the
    /// server's own self-signed certificate, which is then trusted exactly
    /// as it is (pinned), whatever its name and dates.
    ///
    /// # Errors
    ///
    /// The file is missing, unreadable, or holds no usable certificate.
    pub fn private_ca(path: &Path) -> Result<ClientRoots, TlsError> {
        let pinned = read_certificates(path)?;
        let mut roots = RootCertStore::empty();
        let (_, unusable) = roots.add_parsable_certificates(pinned.iter().cloned());
        if unusable > 0 {
            log::debug!("{unusable} certificates of {} are not CAs", path.display());
        }
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let verifier: Arc<dyn ServerCertVerifier> = if roots.is_empty() {
            Arc::new(Pinned {
                pinned,
                by_authority: None,
                provider: Arc::clone(&provider),
            })
        } else {
            let by_authority =
                WebPkiServerVerifier::builder_with_provider(Arc::new(roots), Arc::clone(&provider))
                    .build()
                    .map_err(|err| TlsError::Certificate {
                        path: path.to_path_buf(),
                        reason: err.to_string(),
                    })?;
            Arc::new(Pinned {
                pinned,
                by_authority: Some(by_authority),
                provider: Arc::clone(&provider),
            })
        };
        let config = ClientConfig::builder_with_provider(provider)
            .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])
            .expect("ring supports TLS 1.2 and 1.3")
            .dangerous()
            .with_custom_certificate_verifier(verifier)
            .with_no_client_auth();
        Ok(ClientRoots {
            config: Arc::new(config),
            private: true,
        })
    }

    fn trusting(roots: RootCertStore) -> ClientRoots {
        let config =
            ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
                .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])
                .expect("ring supports TLS 1.2 and 1.3")
                .with_root_certificates(roots)
                .with_no_client_auth();
        ClientRoots {
            config: Arc::new(config),
            private: false,
        }
    }
}

fn server_config(files: &TlsFiles) -> Result<Arc<ServerConfig>, TlsError> {
    let certs = read_certificates(&files.cert)?;
    let key = PrivateKeyDer::from_pem_file(&files.key).map_err(|err| TlsError::Key {
        path: files.key.clone(),
        reason: match err {
            // The parser's words are "no items found".
            rustls_pki_types::pem::Error::NoItemsFound => "no private key in it (a PEM \
                PRIVATE KEY, RSA PRIVATE KEY or EC PRIVATE KEY; an encrypted key must be \
                decrypted first)"
                .to_string(),
            other => other.to_string(),
        },
    })?;
    let config =
        ServerConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
            .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])
            .map_err(|err| TlsError::Config(err.to_string()))?
            .with_no_client_auth()
            .with_single_cert(certs, key)
            .map_err(|err| TlsError::Config(config_reason(&err, files)))?;
    Ok(Arc::new(config))
}

/// Why a certificate and key were refused, in words an operator can act
/// on: rustls says "keys may not be consistent: KeyMismatch" for a key that
/// belongs to another certificate (the old key after a renewal, say).
fn config_reason(err: &rustls::Error, files: &TlsFiles) -> String {
    match err {
        rustls::Error::InconsistentKeys(rustls::InconsistentKeys::KeyMismatch) => format!(
            "{} is not the private key of the certificate in {}",
            files.key.display(),
            files.cert.display()
        ),
        other => other.to_string(),
    }
}

/// Every certificate of a PEM file, leaf first.
///
/// # Errors
///
/// The file is missing, unreadable, or holds no certificate.
pub fn read_certificates(path: &Path) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let failed = |reason: String| TlsError::Certificate {
        path: path.to_path_buf(),
        reason,
    };
    let certs = CertificateDer::pem_file_iter(path)
        .map_err(|err| failed(err.to_string()))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|err| failed(err.to_string()))?;
    if certs.is_empty() {
        return Err(failed("no certificate in it".to_string()));
    }
    Ok(certs)
}

/// What opening some records found besides plain text.
struct Opened {
    /// TLS wants to send records back (a key update, an alert).
    owes_records: bool,
    /// The client sent `close_notify`: no more plain text will come.
    peer_closed: bool,
}

/// Trusts a server certificate that is byte for byte one of `pinned` (a
/// self-signed certificate handed to the client), and otherwise what the
/// CAs among them signed, verified as usual. Handshake signatures are
/// always checked against the certificate's key.
#[derive(Debug)]
struct Pinned {
    pinned: Vec<CertificateDer<'static>>,
    by_authority: Option<Arc<WebPkiServerVerifier>>,
    provider: Arc<rustls::crypto::CryptoProvider>,
}

impl ServerCertVerifier for Pinned {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        if self
            .pinned
            .iter()
            .any(|pinned| pinned.as_ref() == end_entity.as_ref())
        {
            return Ok(ServerCertVerified::assertion());
        }
        match &self.by_authority {
            Some(verifier) => verifier.verify_server_cert(
                end_entity,
                intermediates,
                server_name,
                ocsp_response,
                now,
            ),
            None => Err(rustls::Error::InvalidCertificate(
                rustls::CertificateError::UnknownIssuer,
            )),
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}

/// One connection's TLS state, shared by its reader and its writers (a
/// server connection's outbox; a client's requests).
pub(crate) struct TlsChannel {
    conn: Mutex<Connection>,
}

impl TlsChannel {
    /// Encrypts `plain` (maybe nothing) and returns every record due,
    /// alerts and key updates the reader caused included.
    pub(crate) fn seal(&self, plain: &[u8]) -> Vec<u8> {
        let mut conn = self.conn.lock();
        if !plain.is_empty()
            && let Err(err) = conn.writer().write_all(plain)
        {
            log::warn!("cannot encrypt for a client: {err}");
        }
        let mut sealed = Vec::with_capacity(plain.len() + 64);
        while conn.wants_write() {
            if conn.write_tls(&mut sealed).is_err() {
                break;
            }
        }
        sealed
    }

    /// Decrypts `raw` bytes read from the socket, appending the plain text
    /// to `plain`.
    ///
    /// # Errors
    ///
    /// A record that is not valid TLS: the connection is over.
    fn open(&self, mut raw: &[u8], plain: &mut Vec<u8>) -> std::io::Result<Opened> {
        let mut conn = self.conn.lock();
        let mut peer_closed = false;
        // At least once: plain text may be waiting from an earlier read.
        loop {
            if !raw.is_empty() {
                conn.read_tls(&mut raw)?;
            }
            let state = conn
                .process_new_packets()
                .map_err(|err| std::io::Error::new(std::io::ErrorKind::InvalidData, err))?;
            let available = state.plaintext_bytes_to_read();
            if available > 0 {
                let start = plain.len();
                plain.resize(start + available, 0);
                conn.reader().read_exact(&mut plain[start..])?;
            }
            peer_closed |= state.peer_has_closed();
            if raw.is_empty() {
                break;
            }
        }
        Ok(Opened {
            owes_records: conn.wants_write(),
            peer_closed,
        })
    }

    /// Tells the peer the connection is ending (`close_notify`).
    pub(crate) fn close(&self) -> Vec<u8> {
        self.conn.lock().send_close_notify();
        self.seal(&[])
    }

    /// Seals `plain` and writes it to `stream` before anyone else can seal:
    /// for writers without an outbox to keep records in order.
    ///
    /// # Errors
    ///
    /// The socket's.
    pub(crate) fn seal_and_write(&self, stream: &TcpStream, plain: &[u8]) -> std::io::Result<()> {
        let mut conn = self.conn.lock();
        if !plain.is_empty() {
            conn.writer().write_all(plain)?;
        }
        let mut stream = stream;
        while conn.wants_write() {
            conn.write_tls(&mut stream)?;
        }
        Ok(())
    }
}

/// A connection's socket with its TLS state, if it has one: what its thread
/// reads from, and, until the connection has an outbox, writes to.
///
/// With TLS, one `read` reads the socket once; when that brought no complete
/// record it returns [`std::io::ErrorKind::WouldBlock`] rather than reading
/// again, so that callers' deadlines also bound a client that trickles
/// bytes. Callers without a deadline read again.
pub(crate) struct Link {
    stream: Arc<TcpStream>,
    tls: Option<Arc<TlsChannel>>,
    /// Plain text opened (or put back) but not yet read.
    pending: Vec<u8>,
    taken: usize,
    /// Sends the records TLS itself wants sent after a read (key updates,
    /// alerts), in order with everything else the connection sends.
    flush_records: Box<dyn Fn() + Send>,
    /// Read on through partial records (see [`Link::patient`]).
    patient: bool,
    /// The client sent `close_notify`: once `pending` is read, the stream
    /// has ended, even though the socket stays open until the client
    /// closes it (it may be waiting for our replies).
    peer_closed: bool,
}

impl Link {
    /// The link for `stream`; `tls` is its channel when the listener has TLS.
    pub(crate) fn new(stream: Arc<TcpStream>, tls: Option<Arc<TlsChannel>>) -> Link {
        let flush_records: Box<dyn Fn() + Send> = match &tls {
            Some(channel) => {
                let stream = Arc::clone(&stream);
                let channel = Arc::clone(channel);
                Box::new(move || {
                    let _ = channel.seal_and_write(&stream, &[]);
                })
            }
            None => Box::new(|| {}),
        };
        let mut pending = Vec::new();
        let mut peer_closed = false;
        if let Some(channel) = &tls {
            // Records that came in with the end of the handshake (a request
            // sent right behind the client's Finished) are already opened
            // inside the channel: they are the first to read.
            match channel.open(&[], &mut pending) {
                Ok(opened) => peer_closed = opened.peer_closed,
                Err(err) => log::debug!("a record after the TLS handshake is bad: {err}"),
            }
        }
        Link {
            stream,
            tls,
            pending,
            taken: 0,
            flush_records,
            patient: false,
            peer_closed,
        }
    }

    /// Makes reads wait through partial TLS records instead of returning
    /// `WouldBlock`: for readers with no deadline of their own.
    pub(crate) fn patient(mut self) -> Link {
        self.patient = true;
        self
    }

    pub(crate) fn stream(&self) -> &Arc<TcpStream> {
        &self.stream
    }

    /// The connection's TLS channel, for its outbox to seal with.
    pub(crate) fn tls(&self) -> Option<&Arc<TlsChannel>> {
        self.tls.as_ref()
    }

    /// Sends the records TLS wants sent through `flush` from now on: the
    /// connection's outbox, once it has one.
    pub(crate) fn flush_records_with(&mut self, flush: Box<dyn Fn() + Send>) {
        self.flush_records = flush;
    }

    /// Puts `bytes` back, to be read again before anything else.
    pub(crate) fn unread(&mut self, bytes: &[u8]) {
        let mut pending = bytes.to_vec();
        pending.extend_from_slice(&self.pending[self.taken..]);
        self.pending = pending;
        self.taken = 0;
    }

    /// Writes `bytes`, sealed when the connection has TLS, blocking: for
    /// connections without an outbox (HTTP responses, handshakes, refusals).
    ///
    /// # Errors
    ///
    /// The socket's.
    pub(crate) fn send(&self, bytes: &[u8]) -> std::io::Result<()> {
        match &self.tls {
            Some(tls) => tls.seal_and_write(&self.stream, bytes),
            None => (&*self.stream).write_all(bytes),
        }
    }

    /// Tells a TLS client that nothing more will come (`close_notify`), so
    /// that it can tell an end from a cut.
    pub(crate) fn send_close_notify(&self) {
        if let Some(tls) = &self.tls {
            tls.conn.lock().send_close_notify();
            let _ = tls.seal_and_write(&self.stream, &[]);
        }
    }

    fn take_pending(&mut self, buf: &mut [u8]) -> usize {
        let n = buf.len().min(self.pending.len() - self.taken);
        buf[..n].copy_from_slice(&self.pending[self.taken..self.taken + n]);
        self.taken += n;
        if self.taken == self.pending.len() {
            self.pending.clear();
            self.taken = 0;
        }
        n
    }
}

impl Read for Link {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        if self.taken < self.pending.len() {
            return Ok(self.take_pending(buf));
        }
        if self.peer_closed {
            return Ok(0);
        }
        match &self.tls {
            None => (&*self.stream).read(buf),
            Some(_) => self.read_sealed(buf),
        }
    }
}

impl Link {
    /// Reads and opens records until some plain text comes (or, unless
    /// patient, one read's worth). A function of its own, never inlined:
    /// its 4 KiB buffer would otherwise sit in the frame of every plain
    /// connection's read too, and an idle connection's thread keeps the
    /// stack pages its blocked read touched.
    #[inline(never)]
    fn read_sealed(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let Some(tls) = self.tls.clone() else {
            return (&*self.stream).read(buf);
        };
        let mut raw = [0u8; 4096];
        loop {
            let read = (&*self.stream).read(&mut raw)?;
            if read == 0 {
                return Ok(0);
            }
            let opened = tls.open(&raw[..read], &mut self.pending)?;
            if opened.owes_records {
                (self.flush_records)();
            }
            // Plain text that came with the `close_notify` is read first;
            // the read after it ends the stream.
            self.peer_closed |= opened.peer_closed;
            if !self.pending.is_empty() {
                return Ok(self.take_pending(buf));
            }
            if self.peer_closed {
                return Ok(0);
            }
            if !self.patient {
                return Err(std::io::Error::new(
                    std::io::ErrorKind::WouldBlock,
                    "no complete TLS record yet",
                ));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A server certificate for `localhost` in `dir`, and a client
    /// configuration that trusts it.
    fn certificate(dir: &Path) -> (TlsFiles, Arc<ClientConfig>) {
        let made = rcgen::generate_simple_self_signed(vec!["localhost".to_string()]).unwrap();
        let files = TlsFiles {
            cert: dir.join("cert.pem"),
            key: dir.join("key.pem"),
        };
        std::fs::write(&files.cert, made.cert.pem()).unwrap();
        std::fs::write(&files.key, made.signing_key.serialize_pem()).unwrap();
        let roots = ClientRoots::private_ca(&files.cert).unwrap();
        (files, roots.config)
    }

    /// Runs `client` against a TLS listener on its own thread, and returns
    /// the server's patient link once the handshake is done. Reads have a
    /// deadline, so that a server waiting for more fails instead of hanging.
    fn serve_one<T: Send + 'static>(
        client: impl FnOnce(TcpStream, ClientConnection) -> T + Send + 'static,
    ) -> (Link, std::thread::JoinHandle<T>) {
        let dir = tempfile::tempdir().unwrap();
        let (files, client_config) = certificate(dir.path());
        let acceptor = TlsAcceptor::load(files).unwrap();
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let client = std::thread::spawn(move || {
            let socket = TcpStream::connect(addr).unwrap();
            let name = ServerName::try_from("localhost").unwrap();
            client(socket, ClientConnection::new(client_config, name).unwrap())
        });
        let (stream, _) = listener.accept().unwrap();
        let stream = Arc::new(stream);
        let channel = acceptor
            .handshake(&stream, Duration::from_secs(10))
            .unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        (Link::new(stream, Some(channel)).patient(), client)
    }

    /// Writes every record `conn` has due in one `write`: one packet.
    fn write_together(conn: &mut ClientConnection, socket: &mut TcpStream) {
        let mut together = Vec::new();
        while conn.wants_write() {
            conn.write_tls(&mut together).unwrap();
        }
        socket.write_all(&together).unwrap();
    }

    /// A client may send its first request in the same packet as its
    /// handshake's last message (browsers do); the server reads it first
    /// instead of waiting on the socket for more.
    #[test]
    fn data_sent_with_the_handshakes_end_is_read_first() {
        let (mut link, client) = serve_one(|mut socket, mut conn| {
            // Drive the handshake by hand, so that the client's Finished is
            // still unsent when the request is added behind it.
            while conn.is_handshaking() {
                while conn.wants_write() {
                    conn.write_tls(&mut socket).unwrap();
                }
                if !conn.is_handshaking() {
                    break;
                }
                conn.read_tls(&mut socket).unwrap();
                conn.process_new_packets().unwrap();
            }
            conn.writer().write_all(b"/ping\n").unwrap();
            write_together(&mut conn, &mut socket);
            socket
        });
        let mut line = [0u8; 6];
        link.read_exact(&mut line).unwrap();
        assert_eq!(&line, b"/ping\n");
        drop(client.join().unwrap());
    }

    /// A client may send its last request and `close_notify` in one packet
    /// (`printf … | ncat --ssl`) and keep the socket open for the replies:
    /// the request is read, then the stream ends, without waiting for the
    /// client to close.
    #[test]
    fn close_notify_behind_data_ends_the_stream_after_it() {
        let (server_done, done) = std::sync::mpsc::channel::<()>();
        let (mut link, client) = serve_one(move |mut socket, mut conn| {
            while conn.is_handshaking() {
                conn.complete_io(&mut socket).unwrap();
            }
            conn.writer().write_all(b"/ping\n").unwrap();
            conn.send_close_notify();
            write_together(&mut conn, &mut socket);
            // The socket stays open until the server has seen the end.
            let _ = done.recv();
        });
        let mut everything = Vec::new();
        let read = link.read_to_end(&mut everything);
        server_done.send(()).unwrap();
        client.join().unwrap();
        read.unwrap();
        assert_eq!(everything, b"/ping\n");
    }

    /// A TLS client's first byte (a handshake record) leads to the
    /// handshake, text is told apart without being taken from the socket,
    /// and nothing in time is left to the handshake, which times out.
    #[test]
    fn the_first_byte_tells_text_from_tls() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        for (sent, expected) in [
            (&[0x16, 0x03, 0x01, 0x00][..], Opening::Tls),
            (&b"GET / HTTP/1.1\r\n"[..], Opening::PlainText),
            (&b"/login|alice|secret\n"[..], Opening::PlainText),
            (&b"\r\n"[..], Opening::PlainText),
            (&[0x80, 0x2e, 0x01][..], Opening::Tls),
            (&b""[..], Opening::Tls),
        ] {
            let mut client = TcpStream::connect(addr).unwrap();
            client.write_all(sent).unwrap();
            let (server, _) = listener.accept().unwrap();
            let deadline = Instant::now() + Duration::from_millis(200);
            assert_eq!(opening(&server, deadline), expected, "{sent:?}");
            server
                .set_read_timeout(Some(Duration::from_secs(10)))
                .unwrap();
            let mut again = vec![0u8; sent.len()];
            (&server).read_exact(&mut again).unwrap();
            assert_eq!(again, sent, "the bytes looked at are still there");
        }
    }

    #[test]
    fn missing_and_wrong_files_are_clear_errors() {
        let dir = tempfile::tempdir().unwrap();
        let missing = TlsFiles {
            cert: dir.path().join("cert.pem"),
            key: dir.path().join("key.pem"),
        };
        let err = TlsAcceptor::load(missing.clone()).err().expect("refused");
        assert!(err.to_string().contains("cert.pem"), "{err}");
        std::fs::write(&missing.cert, "not a certificate").unwrap();
        let err = TlsAcceptor::load(missing).err().expect("refused");
        assert!(err.to_string().contains("no certificate"), "{err}");
    }
}
