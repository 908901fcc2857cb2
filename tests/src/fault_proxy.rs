//! A loopback TCP proxy between the desktop core and the cloud that breaks
//! requests on purpose, with a seeded RNG, so the sync's "nothing is lost"
//! claims are tested against the failures a dealership's network produces.
//!
//! Every request gets its own upstream connection: the proxy adds
//! `Connection: close` to each request head, so the HTTP client never reuses
//! a connection and a fault decided per connection is a fault per request.
//! Faults, each drawn with its configured probability when a connection
//! arrives (in accept order, from one `StdRng::seed_from_u64(seed)`):
//!
//! - [`Fault::Drop`]: close before anything reaches the cloud (no side effect);
//! - [`Fault::ServerError`]: a canned `503` without forwarding (no side effect);
//! - [`Fault::Delay`]: forward after a pause (may outlast the client's timeout);
//! - [`Fault::ResetMidBody`]: forward, then send part of the response and reset
//!   the connection (RST): the cloud DID apply the request, the client never
//!   learns it — the case idempotency keys exist for;
//! - [`Fault::Truncate`]: forward, then send a prefix of the response and close
//!   cleanly (FIN): same, but the client sees a short read.
//!
//! [`FaultProxy::record_requests`] keeps the bodies of the requests the cloud
//! received (the sync tests read the pushed mutations from them).
//!
//! [`FaultProxy::heal`] stops injecting faults; [`FaultProxy::set_down`] makes
//! the address refuse connections (and cuts live ones) like a lost network.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::JoinHandle;

/// The canned answer of [`Fault::ServerError`] (what a load balancer sends
/// when the service behind it is restarting).
const CANNED_503: &[u8] = b"HTTP/1.1 503 Service Unavailable\r\ncontent-type: text/plain\r\n\
content-length: 19\r\nconnection: close\r\n\r\nService Unavailable";
/// A request head larger than this is not HTTP from our client.
const MAX_HEAD: usize = 64 * 1024;

/// Probabilities (0.0..=1.0, summed ≤ 1.0) of each fault per connection.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct FaultPlan {
    pub drop: f64,
    pub reset_mid_body: f64,
    pub server_error: f64,
    pub delay: f64,
    pub truncate: f64,
    /// Upper bound of a [`Fault::Delay`] (drawn uniformly from 1 ms..=max).
    pub max_delay: Duration,
}

impl FaultPlan {
    /// No faults: every request is forwarded untouched.
    pub fn none() -> Self {
        Self {
            drop: 0.0,
            reset_mid_body: 0.0,
            server_error: 0.0,
            delay: 0.0,
            truncate: 0.0,
            max_delay: Duration::ZERO,
        }
    }

    /// Each fault with probability `each` (so 5 × `each` of the requests fail or stall).
    pub fn uniform(each: f64, max_delay: Duration) -> Self {
        Self {
            drop: each,
            reset_mid_body: each,
            server_error: each,
            delay: each,
            truncate: each,
            max_delay,
        }
    }
}

/// What happens to one connection (one request).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    None,
    Drop,
    ServerError,
    Delay(Duration),
    /// Send this fraction (per mille) of the response body, then RST.
    ResetMidBody {
        per_mille: u16,
    },
    /// Send this fraction (per mille) of the whole response, then FIN.
    Truncate {
        per_mille: u16,
    },
}

impl Fault {
    fn draw(plan: &FaultPlan, rng: &mut StdRng) -> Self {
        let roll: f64 = rng.gen();
        let mut edge = plan.drop;
        if roll < edge {
            return Self::Drop;
        }
        edge += plan.server_error;
        if roll < edge {
            return Self::ServerError;
        }
        edge += plan.delay;
        if roll < edge {
            let max = plan.max_delay.as_millis().max(1) as u64;
            return Self::Delay(Duration::from_millis(rng.gen_range(1..=max)));
        }
        edge += plan.reset_mid_body;
        if roll < edge {
            return Self::ResetMidBody {
                per_mille: rng.gen_range(0..1000),
            };
        }
        edge += plan.truncate;
        if roll < edge {
            return Self::Truncate {
                per_mille: rng.gen_range(0..1000),
            };
        }
        Self::None
    }
}

/// How many connections got each fault (to assert a run really was faulty).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FaultStats {
    pub connections: u64,
    pub clean: u64,
    pub dropped: u64,
    pub server_errors: u64,
    pub delayed: u64,
    pub resets: u64,
    pub truncated: u64,
    /// Connections refused or cut because the proxy was down.
    pub refused_while_down: u64,
}

#[derive(Default)]
struct Counters {
    connections: AtomicU64,
    clean: AtomicU64,
    dropped: AtomicU64,
    server_errors: AtomicU64,
    delayed: AtomicU64,
    resets: AtomicU64,
    truncated: AtomicU64,
    refused_while_down: AtomicU64,
}

struct Shared {
    upstream: SocketAddr,
    plan: Mutex<FaultPlan>,
    rng: Mutex<StdRng>,
    counters: Counters,
    /// true = down: no listener, live connections cut.
    down: watch::Sender<bool>,
    closing: AtomicBool,
    /// Request bodies forwarded to a path starting with `.0`.
    recording: Mutex<Option<(String, Vec<Vec<u8>>)>>,
}

impl Shared {
    fn lock_plan(&self) -> MutexGuard<'_, FaultPlan> {
        // Poisoned only if a test thread panicked while holding it; the value is fine.
        self.plan.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn record(&self, head: &[u8], body: Vec<u8>) {
        let mut recording = self.recording.lock().unwrap_or_else(|p| p.into_inner());
        if let Some((prefix, bodies)) = recording.as_mut() {
            // Request line: METHOD SP PATH SP VERSION.
            let path = head.split(|b| *b == b' ').nth(1).unwrap_or_default();
            if path.starts_with(prefix.as_bytes()) {
                bodies.push(body);
            }
        }
    }

    fn next_fault(&self) -> Fault {
        let plan = *self.lock_plan();
        let mut rng = self.rng.lock().unwrap_or_else(|p| p.into_inner());
        Fault::draw(&plan, &mut rng)
    }
}

/// The running proxy. Dropping it stops accepting (live connections finish).
pub struct FaultProxy {
    addr: SocketAddr,
    shared: Arc<Shared>,
    acceptor: JoinHandle<()>,
}

impl FaultProxy {
    /// Listens on 127.0.0.1:0 and forwards to `upstream` with `plan`'s faults.
    pub async fn start(upstream: SocketAddr, seed: u64, plan: FaultPlan) -> std::io::Result<Self> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let (down, _) = watch::channel(false);
        let shared = Arc::new(Shared {
            upstream,
            plan: Mutex::new(plan),
            rng: Mutex::new(StdRng::seed_from_u64(seed)),
            counters: Counters::default(),
            down,
            closing: AtomicBool::new(false),
            recording: Mutex::new(None),
        });
        let down_rx = shared.down.subscribe();
        let acceptor = tokio::spawn(accept_loop(listener, addr, shared.clone(), down_rx));
        Ok(Self {
            addr,
            shared,
            acceptor,
        })
    }

    /// `http://127.0.0.1:<port>`: give this to the core as its cloud URL.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// From now on every request is forwarded untouched (and the proxy is up).
    pub fn heal(&self) {
        self.set_plan(FaultPlan::none());
        self.set_down(false);
    }

    pub fn set_plan(&self, plan: FaultPlan) {
        *self.shared.lock_plan() = plan;
    }

    /// Down: the port refuses connections and live ones are cut, as when the
    /// office's network goes away. Up: the same port listens again.
    pub fn set_down(&self, down: bool) {
        self.shared.down.send_replace(down);
    }

    /// From now on keep the body of every request forwarded to a path that
    /// starts with `path_prefix` (e.g. `/api/v1/sync/push`): what the cloud
    /// received, retries included, and nothing that was dropped before it.
    pub fn record_requests(&self, path_prefix: &str) {
        *self
            .shared
            .recording
            .lock()
            .unwrap_or_else(|p| p.into_inner()) = Some((path_prefix.to_owned(), Vec::new()));
    }

    /// The bodies recorded so far, in forwarding order.
    pub fn recorded(&self) -> Vec<Vec<u8>> {
        self.shared
            .recording
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .as_ref()
            .map(|(_, bodies)| bodies.clone())
            .unwrap_or_default()
    }

    pub fn stats(&self) -> FaultStats {
        let c = &self.shared.counters;
        let get = |a: &AtomicU64| a.load(Ordering::Relaxed);
        FaultStats {
            connections: get(&c.connections),
            clean: get(&c.clean),
            dropped: get(&c.dropped),
            server_errors: get(&c.server_errors),
            delayed: get(&c.delayed),
            resets: get(&c.resets),
            truncated: get(&c.truncated),
            refused_while_down: get(&c.refused_while_down),
        }
    }
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        self.shared.closing.store(true, Ordering::Relaxed);
        self.acceptor.abort();
    }
}

async fn accept_loop(
    listener: TcpListener,
    addr: SocketAddr,
    shared: Arc<Shared>,
    mut down_rx: watch::Receiver<bool>,
) {
    let mut listener = Some(listener);
    loop {
        if shared.closing.load(Ordering::Relaxed) {
            return;
        }
        // The current value decides, not only changes: set_down may run before
        // this task first does.
        let down = *down_rx.borrow_and_update();
        if down {
            // Dropping the listener makes connect() fail with ECONNREFUSED.
            listener = None;
        } else if listener.is_none() {
            listener = rebind(addr).await;
        }
        match listener.as_ref() {
            Some(l) if !down => {
                tokio::select! {
                    accepted = l.accept() => {
                        if let Ok((client, _)) = accepted {
                            shared.counters.connections.fetch_add(1, Ordering::Relaxed);
                            let fault = shared.next_fault();
                            tokio::spawn(serve(client, fault, shared.clone()));
                        }
                    }
                    changed = down_rx.changed() => {
                        if changed.is_err() { return; }
                    }
                }
            }
            _ => {
                if down_rx.changed().await.is_err() {
                    return;
                }
            }
        }
    }
}

/// The same port again (tokio sets SO_REUSEADDR); retried briefly because a
/// just-closed listener's port can take a moment to come back.
async fn rebind(addr: SocketAddr) -> Option<TcpListener> {
    for _ in 0..100 {
        match TcpListener::bind(addr).await {
            Ok(l) => return Some(l),
            Err(_) => tokio::time::sleep(Duration::from_millis(20)).await,
        }
    }
    tracing::error!(%addr, "fault proxy could not listen on its port again");
    None
}

async fn serve(client: TcpStream, fault: Fault, shared: Arc<Shared>) {
    let mut down_rx = shared.down.subscribe();
    if *down_rx.borrow_and_update() {
        shared
            .counters
            .refused_while_down
            .fetch_add(1, Ordering::Relaxed);
        return;
    }
    tokio::select! {
        // Errors only mean one side hung up; the client sees that as a network failure.
        _ = handle(client, fault, &shared) => {}
        _ = down_rx.wait_for(|down| *down) => {
            shared.counters.refused_while_down.fetch_add(1, Ordering::Relaxed);
        }
    }
}

async fn handle(mut client: TcpStream, fault: Fault, shared: &Shared) -> std::io::Result<()> {
    let c = &shared.counters;
    let counter = match fault {
        Fault::None => &c.clean,
        Fault::Drop => &c.dropped,
        Fault::ServerError => &c.server_errors,
        Fault::Delay(_) => &c.delayed,
        Fault::ResetMidBody { .. } => &c.resets,
        Fault::Truncate { .. } => &c.truncated,
    };
    counter.fetch_add(1, Ordering::Relaxed);
    match fault {
        Fault::Drop => {
            // Nothing was forwarded: an RST makes the client fail at once.
            client.set_zero_linger()?;
            return Ok(());
        }
        Fault::ServerError => {
            let _ = read_head(&mut client).await?;
            client.write_all(CANNED_503).await?;
            client.shutdown().await?;
            return Ok(());
        }
        Fault::Delay(pause) => tokio::time::sleep(pause).await,
        _ => {}
    }

    // The whole request is read before anything goes up, so a recorded request
    // is exactly what the cloud received.
    let (head, mut body) = read_head(&mut client).await?;
    let missing = content_length(&head).saturating_sub(body.len());
    let mut tail = vec![0u8; missing];
    client.read_exact(&mut tail).await?;
    body.extend_from_slice(&tail);

    let mut upstream = TcpStream::connect(shared.upstream).await?;
    upstream.set_nodelay(true)?;
    client.set_nodelay(true)?;
    upstream.write_all(&with_connection_close(&head)).await?;
    upstream.write_all(&body).await?;
    shared.record(&head, body);

    match fault {
        Fault::ResetMidBody { per_mille } | Fault::Truncate { per_mille } => {
            // The server closes after its one response (Connection: close): buffer
            // it whole, then send back only a prefix.
            let response = read_to_end(&mut upstream).await?;
            let cut = match fault {
                Fault::ResetMidBody { .. } => {
                    let body_start = find_head_end(&response).unwrap_or(0);
                    body_start + (response.len() - body_start) * per_mille as usize / 1000
                }
                _ => response.len() * per_mille as usize / 1000,
            };
            client.write_all(&response[..cut]).await?;
            client.flush().await?;
            if matches!(fault, Fault::ResetMidBody { .. }) {
                client.set_zero_linger()?;
            } else {
                client.shutdown().await?;
            }
        }
        _ => {
            tokio::io::copy(&mut upstream, &mut client).await?;
            client.shutdown().await?;
        }
    }
    Ok(())
}

async fn read_to_end(stream: &mut (impl AsyncReadExt + Unpin)) -> std::io::Result<Vec<u8>> {
    let mut out = Vec::new();
    stream.read_to_end(&mut out).await?;
    Ok(out)
}

/// Reads until the end of the request head; returns (the head with its
/// blank line, the bytes read past it).
async fn read_head(client: &mut TcpStream) -> std::io::Result<(Vec<u8>, Vec<u8>)> {
    let mut buf = Vec::with_capacity(2048);
    let mut chunk = [0u8; 4096];
    loop {
        let n = client.read(&mut chunk).await?;
        if n == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        buf.extend_from_slice(&chunk[..n]);
        if let Some(end) = find_head_end(&buf) {
            let rest = buf.split_off(end);
            return Ok((buf, rest));
        }
        if buf.len() > MAX_HEAD {
            return Err(std::io::ErrorKind::InvalidData.into());
        }
    }
}

/// The request's `Content-Length` (0 when absent: our client sends a length
/// with every body, never chunked requests).
fn content_length(head: &[u8]) -> usize {
    String::from_utf8_lossy(head)
        .split("\r\n")
        .filter_map(|line| line.split_once(':'))
        .find(|(name, _)| name.trim().eq_ignore_ascii_case("content-length"))
        .and_then(|(_, value)| value.trim().parse().ok())
        .unwrap_or(0)
}

/// Index just past the `\r\n\r\n` that ends an HTTP head.
fn find_head_end(buf: &[u8]) -> Option<usize> {
    buf.windows(4).position(|w| w == b"\r\n\r\n").map(|i| i + 4)
}

/// The head with any `Connection` header replaced by `Connection: close`, so
/// the server closes after this one response and the client opens a new
/// connection (and so draws a new fault) for its next request.
fn with_connection_close(head: &[u8]) -> Vec<u8> {
    let text = String::from_utf8_lossy(head);
    let mut out = String::with_capacity(text.len() + 20);
    for line in text.trim_end_matches("\r\n").split("\r\n") {
        let is_connection = line
            .split_once(':')
            .is_some_and(|(name, _)| name.trim().eq_ignore_ascii_case("connection"));
        if !is_connection {
            out.push_str(line);
            out.push_str("\r\n");
        }
    }
    out.push_str("Connection: close\r\n\r\n");
    out.into_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A tiny HTTP/1.1 server answering every request with `body`, counting requests.
    async fn upstream(body: &'static str) -> (SocketAddr, Arc<AtomicU64>) {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let hits = Arc::new(AtomicU64::new(0));
        let counted = hits.clone();
        tokio::spawn(async move {
            loop {
                let Ok((mut s, _)) = listener.accept().await else {
                    return;
                };
                let counted = counted.clone();
                tokio::spawn(async move {
                    if read_head(&mut s).await.is_err() {
                        return;
                    }
                    counted.fetch_add(1, Ordering::SeqCst);
                    let reply = format!(
                        "HTTP/1.1 200 OK\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                        body.len()
                    );
                    let _ = s.write_all(reply.as_bytes()).await;
                    let _ = s.shutdown().await;
                });
            }
        });
        (addr, hits)
    }

    async fn get(addr: SocketAddr) -> std::io::Result<Vec<u8>> {
        let mut s = TcpStream::connect(addr).await?;
        s.write_all(b"GET /x HTTP/1.1\r\nhost: t\r\nconnection: keep-alive\r\n\r\n")
            .await?;
        read_to_end(&mut s).await
    }

    const BODY: &str = "0123456789abcdefghijklmnopqrstuvwxyz0123456789abcdefghijklmnopqrstuvwxyz";

    #[tokio::test]
    async fn clean_plan_forwards_every_request_whole() {
        let (up, hits) = upstream(BODY).await;
        let proxy = FaultProxy::start(up, 1, FaultPlan::none()).await.unwrap();
        for _ in 0..5 {
            let reply = get(proxy.addr()).await.unwrap();
            assert!(
                reply.ends_with(BODY.as_bytes()),
                "without faults the whole response must arrive"
            );
        }
        assert_eq!(
            hits.load(Ordering::SeqCst),
            5,
            "each request reaches upstream once"
        );
        assert_eq!(proxy.stats().clean, 5);
    }

    #[test]
    fn connection_header_is_replaced_by_close() {
        let head =
            b"POST /a HTTP/1.1\r\nHost: x\r\nConnection: keep-alive\r\ncontent-length: 2\r\n\r\n";
        let out = String::from_utf8(with_connection_close(head)).unwrap();
        assert_eq!(
            out, "POST /a HTTP/1.1\r\nHost: x\r\ncontent-length: 2\r\nConnection: close\r\n\r\n",
            "exactly one Connection header, `close`, or the client would reuse the connection \
             and later requests would escape the fault draw"
        );
    }

    #[test]
    fn the_same_seed_draws_the_same_faults() {
        let plan = FaultPlan::uniform(0.1, Duration::from_millis(50));
        let draw = |seed| {
            let mut rng = StdRng::seed_from_u64(seed);
            (0..200)
                .map(|_| Fault::draw(&plan, &mut rng))
                .collect::<Vec<_>>()
        };
        assert_eq!(
            draw(7),
            draw(7),
            "a failing run must be replayable by its seed"
        );
        assert_ne!(draw(7), draw(8), "different seeds must give different runs");
        let faults = draw(7);
        for kind in [
            |f: &Fault| matches!(f, Fault::Drop),
            |f: &Fault| matches!(f, Fault::ServerError),
            |f: &Fault| matches!(f, Fault::Delay(_)),
            |f: &Fault| matches!(f, Fault::ResetMidBody { .. }),
            |f: &Fault| matches!(f, Fault::Truncate { .. }),
        ] {
            assert!(
                faults.iter().any(kind),
                "200 draws at 10% each must include every kind of fault: {faults:?}"
            );
        }
    }

    #[tokio::test]
    async fn each_fault_does_what_it_says() {
        let (up, hits) = upstream(BODY).await;
        let proxy = FaultProxy::start(up, 1, FaultPlan::none()).await.unwrap();
        let only = |plan: fn(&mut FaultPlan)| {
            let mut p = FaultPlan::none();
            plan(&mut p);
            p
        };

        proxy.set_plan(only(|p| p.drop = 1.0));
        let dropped = get(proxy.addr()).await.unwrap_or_default();
        assert!(dropped.is_empty(), "a dropped request gets no answer");
        assert_eq!(
            hits.load(Ordering::SeqCst),
            0,
            "a dropped request never reaches upstream"
        );

        proxy.set_plan(only(|p| p.server_error = 1.0));
        let reply = get(proxy.addr()).await.unwrap();
        assert!(reply.starts_with(b"HTTP/1.1 503"), "canned 503 expected");
        assert_eq!(
            hits.load(Ordering::SeqCst),
            0,
            "a canned 503 never reaches upstream"
        );

        proxy.set_plan(only(|p| p.truncate = 1.0));
        let reply = get(proxy.addr()).await.unwrap();
        assert_eq!(
            hits.load(Ordering::SeqCst),
            1,
            "a truncated request WAS served upstream"
        );
        assert!(
            !reply.ends_with(BODY.as_bytes()),
            "a truncated response must be incomplete: {}",
            String::from_utf8_lossy(&reply)
        );

        proxy.set_plan(only(|p| p.reset_mid_body = 1.0));
        let reply = get(proxy.addr()).await.unwrap_or_default();
        assert_eq!(
            hits.load(Ordering::SeqCst),
            2,
            "a reset request WAS served upstream"
        );
        assert!(
            !reply.ends_with(BODY.as_bytes()),
            "a reset response must be incomplete"
        );

        proxy.set_plan(only(|p| {
            p.delay = 1.0;
            p.max_delay = Duration::from_millis(5);
        }));
        let reply = get(proxy.addr()).await.unwrap();
        assert!(
            reply.ends_with(BODY.as_bytes()),
            "a delayed response still arrives whole"
        );

        proxy.heal();
        let reply = get(proxy.addr()).await.unwrap();
        assert!(
            reply.ends_with(BODY.as_bytes()),
            "after heal() responses are whole"
        );
        let stats = proxy.stats();
        assert_eq!(
            (
                stats.dropped,
                stats.server_errors,
                stats.truncated,
                stats.resets,
                stats.delayed,
                stats.clean
            ),
            (1, 1, 1, 1, 1, 1),
            "{stats:?}"
        );
    }

    #[tokio::test]
    async fn records_forwarded_bodies_only() {
        let (up, _) = upstream(BODY).await;
        let proxy = FaultProxy::start(up, 1, FaultPlan::none()).await.unwrap();
        proxy.record_requests("/push");
        let addr = proxy.addr();
        let post = |body: &'static str| async move {
            let mut s = TcpStream::connect(addr).await.unwrap();
            let req = format!(
                "POST /push HTTP/1.1\r\nhost: t\r\ncontent-length: {}\r\n\r\n{body}",
                body.len()
            );
            s.write_all(req.as_bytes()).await.unwrap();
            read_to_end(&mut s).await.unwrap_or_default()
        };
        post("first").await;
        get(proxy.addr()).await.unwrap();
        let mut dropping = FaultPlan::none();
        dropping.drop = 1.0;
        proxy.set_plan(dropping);
        post("dropped").await;
        let mut resetting = FaultPlan::none();
        resetting.reset_mid_body = 1.0;
        proxy.set_plan(resetting);
        post("reset").await;
        assert_eq!(
            proxy.recorded(),
            vec![b"first".to_vec(), b"reset".to_vec()],
            "exactly the bodies upstream received: other paths and dropped requests excluded, \
             a reset one included (upstream did get it)"
        );
    }

    #[tokio::test]
    async fn down_refuses_connections_and_up_serves_on_the_same_port() {
        let (up, _) = upstream(BODY).await;
        let proxy = FaultProxy::start(up, 1, FaultPlan::none()).await.unwrap();
        let addr = proxy.addr();
        proxy.set_down(true);
        // The acceptor drops its listener asynchronously.
        let mut refused = false;
        for _ in 0..100 {
            match TcpStream::connect(addr).await {
                Err(e) if e.kind() == std::io::ErrorKind::ConnectionRefused => {
                    refused = true;
                    break;
                }
                _ => tokio::time::sleep(Duration::from_millis(10)).await,
            }
        }
        assert!(
            refused,
            "a down proxy must refuse connections like an unreachable host"
        );
        proxy.set_down(false);
        let mut reply = Vec::new();
        for _ in 0..100 {
            if let Ok(r) = get(addr).await {
                reply = r;
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        assert!(
            reply.ends_with(BODY.as_bytes()),
            "back up, the same URL must work again (the core keeps its cloud URL)"
        );
    }
}
