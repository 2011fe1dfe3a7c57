//! One TCP proxy per directed link, so that faults can be injected
//! between two processes without root: a node dials each peer (and the
//! payment service) through its own proxy, and the torture run switches
//! each proxy between modes.
//!
//! A connection is forwarded in both directions. The *request* direction
//! carries bytes from the dialling side, the *reply* direction bytes back.
//! Bytes are never dropped from the middle of a stream (that would corrupt
//! HTTP/2 framing rather than model a network): a link that loses traffic
//! stalls its connections instead, and closes them when it heals, so that
//! both ends reconnect afresh, as after a real partition long enough to
//! reset TCP.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::JoinHandle;

/// What a link does to its traffic.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum LinkMode {
    /// Forward everything at once.
    Up,
    /// Forward nothing (a partition): connections stall until the link
    /// heals, then close.
    Blackhole,
    /// Forward requests but never replies: the far side acts, the caller
    /// times out ("timeout after charge").
    DropReplies,
    /// Forward every chunk after this delay.
    Delay(Duration),
    /// Close a connection with this probability per forwarded chunk.
    Lossy(f64),
}

impl LinkMode {
    /// Whether traffic in this direction is held back.
    fn stalls(self, reply: bool) -> bool {
        match self {
            LinkMode::Blackhole => true,
            LinkMode::DropReplies => reply,
            _ => false,
        }
    }
}

/// A running proxy for one link.
pub struct Link {
    addr: SocketAddr,
    mode: watch::Sender<LinkMode>,
    accept: JoinHandle<()>,
}

impl Link {
    /// Listens on a free loopback port and forwards to `target`.
    pub async fn start(target: SocketAddr, seed: u64) -> std::io::Result<Self> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let (mode, watch_rx) = watch::channel(LinkMode::Up);
        let rng = Arc::new(Mutex::new(seed | 1));
        let accept = tokio::spawn(async move {
            loop {
                let inbound = match listener.accept().await {
                    Ok((inbound, _)) => inbound,
                    // Out of descriptors, an aborted handshake: the link
                    // must not die of it (that would be an unrecorded
                    // partition). Try again shortly.
                    Err(_) => {
                        tokio::time::sleep(Duration::from_millis(10)).await;
                        continue;
                    }
                };
                let (rx, rng) = (watch_rx.clone(), rng.clone());
                tokio::spawn(async move {
                    let _ = relay(inbound, target, rx, rng).await;
                });
            }
        });
        Ok(Self { addr, mode, accept })
    }

    /// The address to dial instead of the target.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Switches the link to `mode`; connections see it at once.
    pub fn set(&self, mode: LinkMode) {
        self.mode.send_replace(mode);
    }
}

impl Drop for Link {
    fn drop(&mut self) {
        self.accept.abort();
    }
}

/// Forwards one connection until either side closes or the link decides
/// to end it.
async fn relay(
    inbound: TcpStream,
    target: SocketAddr,
    mut mode: watch::Receiver<LinkMode>,
    rng: Arc<Mutex<u64>>,
) -> std::io::Result<()> {
    // A partitioned link accepts (the kernel would) but never connects on.
    if mode.borrow().stalls(false) {
        heal(&mut mode).await;
        return Ok(());
    }
    let outbound = TcpStream::connect(target).await?;
    inbound.set_nodelay(true)?;
    outbound.set_nodelay(true)?;
    let (in_read, in_write) = inbound.into_split();
    let (out_read, out_write) = outbound.into_split();
    let requests = pump(in_read, out_write, mode.clone(), rng.clone(), false);
    let replies = pump(out_read, in_write, mode, rng, true);
    // The first direction to end ends the connection (both halves drop).
    tokio::select! {
        r = requests => r,
        r = replies => r,
    }
}

/// Copies one direction, applying the link's mode to every chunk.
async fn pump(
    mut from: tokio::net::tcp::OwnedReadHalf,
    mut to: tokio::net::tcp::OwnedWriteHalf,
    mut mode: watch::Receiver<LinkMode>,
    rng: Arc<Mutex<u64>>,
    reply: bool,
) -> std::io::Result<()> {
    let mut buf = vec![0u8; 32 * 1024];
    loop {
        let n = tokio::select! {
            read = from.read(&mut buf) => read?,
            changed = mode.changed() => {
                if changed.is_err() {
                    return Ok(());
                }
                if mode.borrow_and_update().stalls(reply) {
                    heal(&mut mode).await;
                    return Ok(());
                }
                continue;
            }
        };
        if n == 0 {
            return Ok(());
        }
        let current = *mode.borrow_and_update();
        match current {
            LinkMode::Up => {}
            LinkMode::Blackhole | LinkMode::DropReplies if current.stalls(reply) => {
                heal(&mut mode).await;
                return Ok(());
            }
            LinkMode::Blackhole | LinkMode::DropReplies => {}
            LinkMode::Delay(delay) => tokio::time::sleep(delay).await,
            LinkMode::Lossy(p) => {
                if next_unit(&rng) < p {
                    return Ok(());
                }
            }
        }
        to.write_all(&buf[..n]).await?;
    }
}

/// Waits until the link leaves a stalling mode (or its proxy is dropped).
async fn heal(mode: &mut watch::Receiver<LinkMode>) {
    let _ = mode
        .wait_for(|m| !matches!(m, LinkMode::Blackhole | LinkMode::DropReplies))
        .await;
}

/// A uniform number in [0, 1) from the link's xorshift generator.
fn next_unit(rng: &Mutex<u64>) -> f64 {
    let mut x = rng.lock().expect("rng lock");
    *x ^= *x << 13;
    *x ^= *x >> 7;
    *x ^= *x << 17;
    (*x >> 11) as f64 / (1u64 << 53) as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An echo server on a free port.
    async fn echo() -> SocketAddr {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            while let Ok((mut s, _)) = listener.accept().await {
                tokio::spawn(async move {
                    let mut buf = [0u8; 1024];
                    while let Ok(n) = s.read(&mut buf).await {
                        if n == 0 || s.write_all(&buf[..n]).await.is_err() {
                            return;
                        }
                    }
                });
            }
        });
        addr
    }

    async fn round_trip(s: &mut TcpStream, within: Duration) -> Option<Vec<u8>> {
        s.write_all(b"ping").await.ok()?;
        let mut buf = [0u8; 4];
        match tokio::time::timeout(within, s.read_exact(&mut buf)).await {
            Ok(Ok(_)) => Some(buf.to_vec()),
            _ => None,
        }
    }

    #[tokio::test]
    async fn forwards_stalls_heals_and_delays() {
        let link = Link::start(echo().await, 7).await.unwrap();
        let mut s = TcpStream::connect(link.addr()).await.unwrap();
        let second = Duration::from_secs(5);
        assert_eq!(round_trip(&mut s, second).await.unwrap(), b"ping");

        // A partition stalls the connection...
        link.set(LinkMode::Blackhole);
        assert!(
            round_trip(&mut s, Duration::from_millis(200))
                .await
                .is_none()
        );
        // ...and healing closes it, so that the caller reconnects.
        link.set(LinkMode::Up);
        let mut buf = [0u8; 4];
        let closed = tokio::time::timeout(second, s.read(&mut buf))
            .await
            .unwrap();
        assert!(matches!(closed, Ok(0) | Err(_)), "{closed:?}");
        let mut s = TcpStream::connect(link.addr()).await.unwrap();
        assert_eq!(round_trip(&mut s, second).await.unwrap(), b"ping");

        // Replies dropped: the far side got the bytes, nothing came back.
        link.set(LinkMode::DropReplies);
        assert!(
            round_trip(&mut s, Duration::from_millis(200))
                .await
                .is_none()
        );
        link.set(LinkMode::Up);

        link.set(LinkMode::Delay(Duration::from_millis(150)));
        let mut s = TcpStream::connect(link.addr()).await.unwrap();
        let started = tokio::time::Instant::now();
        assert_eq!(round_trip(&mut s, second).await.unwrap(), b"ping");
        assert!(started.elapsed() >= Duration::from_millis(300));
    }

    #[tokio::test]
    async fn a_lossy_link_closes_connections() {
        let link = Link::start(echo().await, 11).await.unwrap();
        link.set(LinkMode::Lossy(1.0));
        let mut s = TcpStream::connect(link.addr()).await.unwrap();
        assert!(round_trip(&mut s, Duration::from_secs(5)).await.is_none());
    }
}
