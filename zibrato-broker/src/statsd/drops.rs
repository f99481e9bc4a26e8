//! What the kernel dropped at the ingress's UDP socket: datagrams that arrived while its
//! receive buffer was full, which the sender never learns of and the ingress never
//! sees. Linux counts them per socket in the last column of `/proc/net/udp` (and
//! `udp6`), found by the socket's inode; reading that is how the drops get into the
//! broker's totals (`statsd_kernel_dropped`).

use std::os::fd::AsRawFd;

/// Reads one UDP socket's kernel drop count.
pub(crate) struct KernelDrops {
    inode: Option<u64>,
}

impl KernelDrops {
    /// For `socket`; counts nothing where `/proc` does not say (not Linux, no `/proc`).
    pub(crate) fn of(socket: &impl AsRawFd) -> KernelDrops {
        let link = std::fs::read_link(format!("/proc/self/fd/{}", socket.as_raw_fd()));
        let inode = link.ok().and_then(|target| {
            target
                .to_str()?
                .strip_prefix("socket:[")?
                .strip_suffix(']')?
                .parse()
                .ok()
        });
        KernelDrops { inode }
    }

    /// The datagrams dropped since the socket was made, or `None` when not known.
    pub(crate) fn read(&self) -> Option<u64> {
        let inode = self.inode?;
        ["/proc/net/udp", "/proc/net/udp6"]
            .iter()
            .filter_map(|path| std::fs::read_to_string(path).ok())
            .find_map(|table| drops_in(&table, inode))
    }
}

/// The `drops` column of the row for `inode` in a `/proc/net/udp` table: after the
/// header, the 10th field is the inode and the 13th the drops.
fn drops_in(table: &str, inode: u64) -> Option<u64> {
    table.lines().skip(1).find_map(|row| {
        let fields: Vec<&str> = row.split_whitespace().collect();
        let row_inode: u64 = fields.get(9)?.parse().ok()?;
        (row_inode == inode)
            .then(|| fields.get(12)?.parse().ok())
            .flatten()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const TABLE: &str = "   sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode ref pointer drops
  1: 0100007F:1FBD 00000000:0000 07 00000000:00000000 00:00000000 00000000     0        0 4242 2 0000000000000000 17
  2: 0100007F:1FBE 00000000:0000 07 00000000:00000000 00:00000000 00000000     0        0 4243 2 0000000000000000 0
";

    #[test]
    fn the_row_of_the_inode_gives_its_drops() {
        assert_eq!(drops_in(TABLE, 4242), Some(17));
        assert_eq!(drops_in(TABLE, 4243), Some(0));
        assert_eq!(drops_in(TABLE, 9), None);
        assert_eq!(drops_in("header only\n", 4242), None);
    }

    #[test]
    fn a_socket_of_ours_is_found_and_drops_what_overflows_its_buffer() {
        let receiver = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::DGRAM, None)
            .expect("a socket");
        receiver.set_recv_buffer_size(4096).expect("a small buffer");
        receiver
            .bind(
                &"127.0.0.1:0"
                    .parse::<std::net::SocketAddr>()
                    .unwrap()
                    .into(),
            )
            .expect("bound");
        let receiver: std::net::UdpSocket = receiver.into();
        let drops = KernelDrops::of(&receiver);
        if drops.read().is_none() {
            // No /proc here: nothing to check.
            return;
        }
        assert_eq!(drops.read(), Some(0));
        let sender = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        // Nobody reads: the buffer of a few kilobytes fills within a few datagrams.
        for _ in 0..200 {
            sender
                .send_to(&[7u8; 1000], receiver.local_addr().unwrap())
                .unwrap();
        }
        assert!(drops.read().unwrap() > 100, "{:?}", drops.read());
    }
}
