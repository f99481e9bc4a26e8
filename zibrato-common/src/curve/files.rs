//! Key files: certificates read and written, allow lists read.

use std::collections::HashSet;
use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use super::{KeyError, KeyPair, PublicKey, curve_public, decode, encode};

/// The value of `name = "…"` in a certificate.
fn field<'a>(text: &'a str, name: &str) -> Option<&'a str> {
    text.lines().find_map(|line| {
        let (key, value) = line.trim().split_once('=')?;
        (key.trim() == name).then(|| value.trim().trim_matches('"'))
    })
}

impl PublicKey {
    /// Reads a public key given as the path of a certificate (public or secret)
    /// holding it, or as its 40 Z85 characters. A file at the path wins: a path of 40
    /// characters is also valid Z85 (`/`, `.` and `-` are Z85 digits), and read as a
    /// key it would pin a key nobody has.
    ///
    /// # Errors
    ///
    /// [`KeyError::Read`], [`KeyError::Missing`] or [`KeyError::BadKey`].
    pub fn parse(text_or_path: &str) -> Result<PublicKey, KeyError> {
        let path = Path::new(text_or_path);
        if !path.is_file() {
            if let Some(key) = decode(text_or_path.trim()) {
                return Ok(PublicKey(key));
            }
        }
        let text = fs::read_to_string(path).map_err(|source| KeyError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        let what = path.display().to_string();
        match field(&text, "public-key") {
            Some(value) => decode(value)
                .map(PublicKey)
                .ok_or(KeyError::BadKey { what }),
            None => Err(KeyError::Missing {
                what,
                kind: "public",
            }),
        }
    }
}

impl KeyPair {
    /// Reads the pair from a secret certificate, which must be readable by its owner
    /// only (the file is refused otherwise, before its content is looked at).
    ///
    /// # Errors
    ///
    /// [`KeyError::Read`], [`KeyError::Exposed`], [`KeyError::Missing`],
    /// [`KeyError::BadKey`] or [`KeyError::Mismatch`].
    pub fn from_secret_file(path: &Path) -> Result<KeyPair, KeyError> {
        let read = |source| KeyError::Read {
            path: path.to_path_buf(),
            source,
        };
        let metadata = fs::metadata(path).map_err(read)?;
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = metadata.permissions().mode() & 0o777;
            if mode & 0o077 != 0 {
                return Err(KeyError::Exposed {
                    path: path.to_path_buf(),
                    mode,
                });
            }
        }
        let _ = metadata;
        let text = fs::read_to_string(path).map_err(read)?;
        let what = path.display().to_string();
        let secret = field(&text, "secret-key").ok_or(KeyError::Missing {
            what: what.clone(),
            kind: "secret",
        })?;
        let secret = decode(secret).ok_or(KeyError::BadKey { what: what.clone() })?;
        let public = PublicKey(curve_public(&secret).ok_or(KeyError::Unsupported)?);
        if let Some(written) = field(&text, "public-key") {
            if decode(written) != Some(public.0) {
                return Err(KeyError::Mismatch {
                    path: path.to_path_buf(),
                });
            }
        }
        Ok(KeyPair { public, secret })
    }

    /// Writes `dir/NAME.key` (the public certificate, mode 0644) and
    /// `dir/NAME.key_secret` (mode 0600), refusing to overwrite either; returns their
    /// paths.
    ///
    /// # Errors
    ///
    /// [`KeyError::Exists`] or [`KeyError::Write`].
    pub fn write(&self, dir: &Path, name: &str) -> Result<(PathBuf, PathBuf), KeyError> {
        let public_path = dir.join(format!("{name}.key"));
        let secret_path = dir.join(format!("{name}.key_secret"));
        for path in [&public_path, &secret_path] {
            if path.exists() {
                return Err(KeyError::Exists { path: path.clone() });
            }
        }
        let public = self.public.to_string();
        let secret = encode(&self.secret);
        let public_text = format!(
            "#   Zibrato CURVE public key of {name}: give it to the brokers that allow {name}\n\
             metadata\ncurve\n    public-key = \"{public}\"\n"
        );
        let secret_text = format!(
            "#   Zibrato CURVE secret key of {name}: readable by its owner only; never copy it\n\
             #   anywhere else (its public half is in {name}.key)\n\
             metadata\ncurve\n    public-key = \"{public}\"\n    secret-key = \"{secret}\"\n"
        );
        write_new(&secret_path, &secret_text, 0o600)?;
        write_new(&public_path, &public_text, 0o644)?;
        Ok((public_path, secret_path))
    }
}

fn write_new(path: &Path, text: &str, mode: u32) -> Result<(), KeyError> {
    let write = |source| KeyError::Write {
        path: path.to_path_buf(),
        source,
    };
    let mut options = fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        // Created with its mode: a secret key is never readable by others, not even
        // for a moment.
        options.mode(mode);
    }
    let _ = mode;
    let mut file = options.open(path).map_err(|source| match source.kind() {
        std::io::ErrorKind::AlreadyExists => KeyError::Exists {
            path: path.to_path_buf(),
        },
        _ => write(source),
    })?;
    file.write_all(text.as_bytes()).map_err(write)?;
    file.sync_all().map_err(write)
}

/// The public keys in `path`: a directory of public certificates (`*.key`), or a file
/// of keys, each on a line of its own as 40 Z85 characters or in a certificate's
/// `public-key = "…"` line; `#` starts a comment line.
///
/// # Errors
///
/// [`KeyError::Read`], or [`KeyError::BadKey`] naming the file and line.
pub fn read_allowed(path: &Path) -> Result<HashSet<PublicKey>, KeyError> {
    let read = |path: &Path| {
        fs::read_to_string(path).map_err(|source| KeyError::Read {
            path: path.to_path_buf(),
            source,
        })
    };
    let mut keys = HashSet::new();
    if path.is_dir() {
        let entries = fs::read_dir(path).map_err(|source| KeyError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        for entry in entries.flatten() {
            let file = entry.path();
            if file.extension().is_some_and(|e| e == "key") {
                keys.extend(keys_in(&read(&file)?, &file)?);
            }
        }
    } else {
        keys.extend(keys_in(&read(path)?, path)?);
    }
    Ok(keys)
}

fn keys_in(text: &str, path: &Path) -> Result<Vec<PublicKey>, KeyError> {
    let mut keys = Vec::new();
    for (number, line) in text.lines().enumerate() {
        let line = line.trim();
        let bad = || KeyError::BadKey {
            what: format!("{} line {}", path.display(), number + 1),
        };
        // A bare key first: Z85 has `#` and `=` among its characters.
        if let Some(key) = decode(line) {
            keys.push(PublicKey(key));
        } else if line.is_empty() || line.starts_with('#') {
            continue;
        } else if let Some((name, value)) = line.split_once('=') {
            match name.trim() {
                "public-key" => keys.push(PublicKey(
                    decode(value.trim().trim_matches('"')).ok_or_else(bad)?,
                )),
                // Never read a secret into an allow list.
                "secret-key" => return Err(bad()),
                _ => {}
            }
        } else if !matches!(line, "metadata" | "curve") {
            return Err(bad());
        }
    }
    Ok(keys)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::curve::available;

    fn scratch(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("zibrato-curve-{}-{name}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).unwrap();
        dir
    }

    #[test]
    fn a_pair_written_is_read_back_and_its_files_are_guarded() {
        if !available() {
            eprintln!("SKIPPED: libzmq without CURVE");
            return;
        }
        let dir = scratch("pair");
        let pair = KeyPair::generate().unwrap();
        let (public, secret) = pair.write(&dir, "web-1").unwrap();
        let again = KeyPair::from_secret_file(&secret).unwrap();
        assert_eq!(again.public(), pair.public());
        assert_eq!(
            PublicKey::parse(public.to_str().unwrap()).unwrap(),
            pair.public()
        );
        assert_eq!(
            PublicKey::parse(&pair.public().to_string()).unwrap(),
            pair.public()
        );
        assert!(matches!(
            pair.write(&dir, "web-1"),
            Err(KeyError::Exists { .. })
        ));
        let debug = format!("{again:?}");
        assert!(!debug.contains(&encode(&pair.secret)), "{debug}");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            fs::set_permissions(&secret, fs::Permissions::from_mode(0o644)).unwrap();
            let refused = KeyPair::from_secret_file(&secret).unwrap_err().to_string();
            assert!(refused.contains("chmod 600"), "{refused}");
            assert!(!refused.contains(&encode(&pair.secret)));
        }
        // A public certificate is no secret key.
        assert!(matches!(
            KeyPair::from_secret_file(&public).map(|_| ()),
            Err(KeyError::Exposed { .. } | KeyError::Missing { .. })
        ));
        fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn a_certificate_whose_path_is_40_characters_is_read_not_decoded() {
        if !available() {
            eprintln!("SKIPPED: libzmq without CURVE");
            return;
        }
        // Found in CI: with a 4-digit process id, a test's certificate path was 40
        // characters, all Z85 digits, and was pinned as a key nobody has.
        let dir = scratch("z85");
        let prefix = dir.to_string_lossy().len() + 1;
        let Some(stem) = 40usize
            .checked_sub(prefix + ".key".len())
            .filter(|n| *n > 0)
        else {
            eprintln!("SKIPPED: the temporary directory's path is too long");
            return;
        };
        let name = "k".repeat(stem);
        let pair = KeyPair::generate().unwrap();
        let (public, _) = pair.write(&dir, &name).unwrap();
        let text = public.to_str().unwrap();
        assert_eq!(text.len(), 40);
        assert!(decode(text).is_some(), "the path is valid Z85: {text}");
        assert_eq!(PublicKey::parse(text).unwrap(), pair.public());
        fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn allow_lists_take_directories_and_files_of_keys() {
        if !available() {
            eprintln!("SKIPPED: libzmq without CURVE");
            return;
        }
        let dir = scratch("allow");
        let (a, b) = (KeyPair::generate().unwrap(), KeyPair::generate().unwrap());
        a.write(&dir, "a").unwrap();
        b.write(&dir, "b").unwrap();
        let keys = read_allowed(&dir).unwrap();
        assert_eq!(
            keys,
            HashSet::from([a.public(), b.public()]),
            "secrets not read"
        );
        let list = dir.join("list");
        fs::write(
            &list,
            format!("# two hosts\n{}\n\n  {}\n", a.public(), b.public()),
        )
        .unwrap();
        assert_eq!(read_allowed(&list).unwrap().len(), 2);
        fs::write(&list, "not a key\n").unwrap();
        let error = read_allowed(&list).unwrap_err().to_string();
        assert!(error.contains("line 1"), "{error}");
        fs::remove_dir_all(dir).unwrap();
    }
}
