//! The spool: windows not yet delivered, one file each, so a crash loses none of them.
//!
//! A window is written to `<dir>/<measure_time>-<n>.window` before delivery is first
//! tried: to a temporary file, `fsync`ed, renamed into place, and the directory
//! `fsync`ed, so a file either holds a whole window or does not exist, even after a
//! power cut. It is deleted once delivered (the deletion is not `fsync`ed: after a
//! power cut a delivered window may come back and be sent again). A file is the magic
//! `ZBSPOOL2`, the payload's length and CRC-32 (both little-endian `u32`), and the
//! window in postcard; a file that does not check out is renamed `*.corrupt`, reported
//! and skipped, never replayed. One worker at a time holds a spool directory (a
//! `flock` on `<dir>/lock`, released by the kernel however the process ends).
//!
//! The worker uses it through `--spool-dir`; it is public for tools that inspect a
//! spool directory, and for the benchmarks.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write as _};
use std::path::{Path, PathBuf};

use crate::Window;

const MAGIC: &[u8; 8] = b"ZBSPOOL2";
const HEADER: usize = MAGIC.len() + 8;
const EXTENSION: &str = "window";

/// The largest window file read back: a bigger one is not a window this worker wrote.
const MAX_FILE_BYTES: u64 = 1 << 30;

/// One window on disk.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SpoolFile {
    /// Where it is.
    pub path: PathBuf,
    /// Its size.
    pub bytes: u64,
}

/// A window file that could not be read back, and why.
#[derive(Debug)]
#[non_exhaustive]
pub struct Corrupt {
    /// Where the file is now (renamed `*.corrupt` when that was possible).
    pub path: PathBuf,
    /// What was wrong with it.
    pub reason: String,
}

/// Why a spool directory cannot be used.
#[derive(Debug)]
#[non_exhaustive]
pub enum SpoolError {
    /// Another worker holds it: two workers would deliver the same windows twice.
    InUse(String),
    /// It cannot be created, read or written.
    Unusable(String),
}

/// The spool directory of one worker.
#[derive(Debug)]
pub struct Spool {
    dir: PathBuf,
    next: u64,
    /// Held for the life of the spool: the flock that keeps a second worker out.
    _lock: File,
}

impl Spool {
    /// Opens (creating it if need be) and locks `dir`; returns the spool and the window
    /// files already there, oldest first, for replay.
    ///
    /// # Errors
    ///
    /// A message naming the directory when it cannot be created or locked, or another
    /// worker holds it.
    pub fn open(dir: &Path) -> Result<(Spool, Vec<SpoolFile>), SpoolError> {
        let unusable = |what: &str, e: io::Error| {
            SpoolError::Unusable(format!(
                "cannot {what} the spool directory {}: {e}",
                dir.display()
            ))
        };
        fs::create_dir_all(dir).map_err(|e| unusable("create", e))?;
        let lock = lock(dir)?;
        let mut files = Vec::new();
        let entries = fs::read_dir(dir).map_err(|e| unusable("read", e))?;
        for entry in entries.flatten() {
            let path = entry.path();
            match path.extension().and_then(|e| e.to_str()) {
                Some(EXTENSION) => {
                    let bytes = entry.metadata().map_or(0, |m| m.len());
                    files.push(SpoolFile { path, bytes });
                }
                // A temporary file is a write a crash interrupted: never a whole window.
                Some("tmp") => {
                    let _ = fs::remove_file(&path);
                }
                _ => {}
            }
        }
        // Names are <measure_time>-<n>, zero-padded: their order is the windows' order.
        files.sort_by(|a, b| a.path.cmp(&b.path));
        let next = files
            .last()
            .and_then(|f| {
                f.path
                    .file_stem()?
                    .to_str()?
                    .split('-')
                    .nth(1)?
                    .parse()
                    .ok()
            })
            .map_or(0, |n: u64| n + 1);
        Ok((
            Spool {
                dir: dir.to_path_buf(),
                next,
                _lock: lock,
            },
            files,
        ))
    }

    /// Writes `window` durably; returns its file.
    ///
    /// # Errors
    ///
    /// The I/O error (a full disk, a directory made read-only): the window is then kept
    /// in memory only.
    pub fn write(&mut self, window: &Window) -> io::Result<SpoolFile> {
        let name = format!("{:020}-{:020}", window.measure_time, self.next);
        self.next += 1;
        let path = self.dir.join(name).with_extension(EXTENSION);
        self.write_at(&path, window)
    }

    /// Replaces the file of a window of which part was delivered by the rest, so a
    /// replay after a crash does not send the delivered part again.
    ///
    /// # Errors
    ///
    /// The I/O error; the old file is then left as it was.
    pub fn rewrite(&mut self, file: &SpoolFile, window: &Window) -> io::Result<SpoolFile> {
        self.write_at(&file.path, window)
    }

    fn write_at(&self, path: &Path, window: &Window) -> io::Result<SpoolFile> {
        let bytes = encode(window)?;
        let temporary = path.with_extension("tmp");
        let written = (|| {
            let mut file = File::create(&temporary)?;
            file.write_all(&bytes)?;
            file.sync_data()?;
            fs::rename(&temporary, path)?;
            File::open(&self.dir)?.sync_all()
        })();
        if written.is_err() {
            let _ = fs::remove_file(&temporary);
        }
        written.map(|()| SpoolFile {
            path: path.to_path_buf(),
            bytes: bytes.len() as u64,
        })
    }

    /// Reads a window back. One that does not check out is renamed `*.corrupt` (so it
    /// is neither replayed nor counted again) and returned as the error.
    pub fn read(&self, file: &SpoolFile) -> Result<Window, Corrupt> {
        read(&file.path).map_err(|reason| {
            let aside = file.path.with_extension("corrupt");
            let path = match fs::rename(&file.path, &aside) {
                Ok(()) => aside,
                Err(_) => file.path.clone(),
            };
            Corrupt { path, reason }
        })
    }

    /// Deletes a delivered (or dropped) window's file.
    pub fn remove(&self, file: &SpoolFile) {
        let _ = fs::remove_file(&file.path);
    }
}

/// A window file's bytes: magic, length, CRC-32, postcard.
///
/// # Errors
///
/// A window too large for the format (over 4 GiB of payload).
pub fn encode(window: &Window) -> io::Result<Vec<u8>> {
    let payload = postcard::to_stdvec(window).map_err(io::Error::other)?;
    let length = u32::try_from(payload.len()).map_err(io::Error::other)?;
    let mut bytes = Vec::with_capacity(HEADER + payload.len());
    bytes.extend_from_slice(MAGIC);
    bytes.extend_from_slice(&length.to_le_bytes());
    bytes.extend_from_slice(&crc32fast::hash(&payload).to_le_bytes());
    bytes.extend_from_slice(&payload);
    Ok(bytes)
}

fn read(path: &Path) -> Result<Window, String> {
    let size = fs::metadata(path).map_err(|e| e.to_string())?.len();
    if size > MAX_FILE_BYTES {
        return Err(format!("{size} bytes, more than a window file can be"));
    }
    decode(&fs::read(path).map_err(|e| e.to_string())?).map_err(|e| e.to_string())
}

/// Why bytes are not a window file.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DecodeError {
    /// They do not start with the magic `ZBSPOOL2` and a whole header.
    #[error("not a Zibrato spool file (bad magic)")]
    BadMagic,
    /// The payload is not as long as the header says.
    #[error("truncated: {found} bytes of payload, the header says {declared}")]
    Truncated {
        /// Bytes of payload present.
        found: usize,
        /// Bytes the header declares.
        declared: usize,
    },
    /// The payload's CRC-32 is not the header's.
    #[error("checksum mismatch")]
    Checksum,
    /// The payload is not a window (postcard's error, in words).
    #[error("cannot decode the window: {0}")]
    Payload(String),
}

/// Reads a window file's bytes back, checking the magic, the length and the CRC-32
/// before decoding.
///
/// # Errors
///
/// What is wrong with the bytes: a [`DecodeError`].
pub fn decode(bytes: &[u8]) -> Result<Window, DecodeError> {
    if bytes.len() < HEADER || &bytes[..MAGIC.len()] != MAGIC {
        return Err(DecodeError::BadMagic);
    }
    let word =
        |at: usize| u32::from_le_bytes([bytes[at], bytes[at + 1], bytes[at + 2], bytes[at + 3]]);
    let (length, crc) = (word(8) as usize, word(12));
    let payload = &bytes[HEADER..];
    if payload.len() != length {
        return Err(DecodeError::Truncated {
            found: payload.len(),
            declared: length,
        });
    }
    if crc32fast::hash(payload) != crc {
        return Err(DecodeError::Checksum);
    }
    postcard::from_bytes(payload).map_err(|e| DecodeError::Payload(e.to_string()))
}

fn lock(dir: &Path) -> Result<File, SpoolError> {
    let path = dir.join("lock");
    let file = OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .map_err(|e| {
            SpoolError::Unusable(format!(
                "cannot write in the spool directory ({}: {e})",
                path.display()
            ))
        })?;
    #[cfg(unix)]
    {
        use rustix::fs::{FlockOperation, flock};
        if let Err(e) = flock(&file, FlockOperation::NonBlockingLockExclusive) {
            return Err(SpoolError::InUse(format!(
                "the spool directory {} is in use by another worker ({e})",
                dir.display(),
            )));
        }
    }
    Ok(file)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{SeriesSummary, Summary};
    use std::sync::Arc;
    use std::time::Duration;
    use zibrato_wire::Kind;

    fn window(measure_time: u64) -> Window {
        Window {
            measure_time,
            interval: Duration::from_secs(10),
            series: vec![SeriesSummary {
                level: Arc::from("info"),
                kind: Kind::Counter,
                name: Arc::from("hits"),
                source: Arc::from("web"),
                summary: Summary::Counter { sum: 7 },
            }],
        }
    }

    fn scratch(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("zibrato-spool-{name}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        dir
    }

    #[test]
    fn windows_come_back_in_order_and_damage_is_set_aside() {
        let dir = scratch("order");
        let (mut spool, found) = Spool::open(&dir).unwrap();
        assert!(found.is_empty());
        let late = spool.write(&window(20)).unwrap();
        let early = spool.write(&window(10)).unwrap();
        let third = spool.write(&window(30)).unwrap();
        assert_eq!(spool.read(&late).unwrap(), window(20));
        // A second worker cannot take the directory while the first holds it.
        assert!(matches!(Spool::open(&dir), Err(SpoolError::InUse(m)) if m.contains("in use")));
        drop(spool);
        // Damage one file: flip a byte of its payload.
        let mut bytes = fs::read(&third.path).unwrap();
        let last = bytes.len() - 1;
        bytes[last] ^= 0xff;
        fs::write(&third.path, bytes).unwrap();
        fs::write(dir.join("x.tmp"), b"half a window").unwrap();
        let (spool, found) = Spool::open(&dir).unwrap();
        assert_eq!(
            found.iter().map(|f| &f.path).collect::<Vec<_>>(),
            [&early.path, &late.path, &third.path]
        );
        assert!(!dir.join("x.tmp").exists());
        let corrupt = spool.read(&found[2]).unwrap_err();
        assert!(corrupt.reason.contains("checksum"), "{}", corrupt.reason);
        assert_eq!(corrupt.path.extension().unwrap(), "corrupt");
        spool.remove(&found[0]);
        drop(spool);
        let (_spool, found) = Spool::open(&dir).unwrap();
        assert_eq!(
            found.len(),
            1,
            "the delivered one is gone, the corrupt one set aside"
        );
        let _ = fs::remove_dir_all(&dir);
    }
}
