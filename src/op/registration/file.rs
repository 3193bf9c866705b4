//! `registration_file` on disk: the registered client written privately and atomically,
//! and `<file>.lock`, the lock beside it that makes instances starting at once register
//! once.
//!
//! The file holds the client's secret, so nothing at a name another user could know or
//! plant in advance is ever opened: it is written to a new file with a random name
//! (`create_new`, mode 0600), synced, and renamed over the file. Its folder must not be
//! writable by other users (see [`check_folder`]).
//!
//! `<file>.lock` exists while an instance registers; it holds a random token, so that its
//! holder removes its own lock only. A lock older than [`LOCK_TTL`] belongs to an instance
//! that died while registering, and is taken over ([`take_over`]) such that one instance
//! only gets it, however many see it stale at once.

use std::io::{ErrorKind, Read, Write};
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use sha2::{Digest, Sha256};

use super::LOCK_TTL;
use crate::protocol::random::random_token;

/// `<file>.lock`, holding `token`: taken by this instance.
pub(super) struct FileLock {
    path: PathBuf,
    token: String,
}

impl FileLock {
    /// Removes the lock if it is still ours.
    pub(super) fn release(self) {
        // Still ours: a lock held beyond LOCK_TTL may have been taken over. (Read, then
        // removed: it is another's only if we exceeded LOCK_TTL, as take_over says.)
        if std::fs::read(&self.path).is_ok_and(|held| held == self.token.as_bytes()) {
            let _ = std::fs::remove_file(self.path);
        }
    }
}

fn lock_path(path: &Path) -> PathBuf {
    sibling(path, ".lock")
}

/// `path` with `suffix` appended to its name: a file in the same folder.
fn sibling(path: &Path, suffix: &str) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(suffix);
    PathBuf::from(name)
}

/// Refuses a folder that users other than its owner may write into (unix: mode & 0o022),
/// unless it is sticky (mode & 0o1000, like /tmp).
///
/// Whoever can write the folder can rename or delete its entries: replace the kept client
/// with one of their own (whose `registration_client_uri` the app then calls with its
/// token), plant or remove the lock, or swap the file for a link. Refused, with the fix.
///
/// A sticky folder is allowed: there only an entry's owner (or root) can rename or delete
/// it, so what the app wrote stays the app's, and the temporary file has a random name and
/// is created exclusively, so the secret never goes elsewhere. What remains is a file
/// another user planted at our names before the app first wrote them: it stays theirs, the
/// app cannot replace it (writing, or taking over the lock, fails with an error), and a
/// planted `registration_file` would be read. Hence the error's advice, and the
/// recommendation of a folder only this app's user can write.
#[cfg(unix)]
pub(super) fn check_folder(path: &Path) -> Result<(), String> {
    use std::os::unix::fs::PermissionsExt;
    let folder = match path.parent() {
        Some(folder) if !folder.as_os_str().is_empty() => folder,
        _ => Path::new("."),
    };
    let mode = std::fs::metadata(folder)
        .map_err(|e| {
            format!(
                "the folder {} of registration_file: {e} (create it, writable by this app's \
                 user only)",
                folder.display()
            )
        })?
        .permissions()
        .mode();
    if mode & 0o022 != 0 && mode & 0o1000 == 0 {
        return Err(format!(
            "the folder {} of registration_file is writable by other users (mode {:o}), who \
             could replace the registered client or its lock: run chmod go-w {}, or put \
             registration_file in a folder only this app's user can write",
            folder.display(),
            mode & 0o7777,
            folder.display()
        ));
    }
    Ok(())
}

/// Folder permissions are not checked outside unix.
#[cfg(not(unix))]
pub(super) fn check_folder(_path: &Path) -> Result<(), String> {
    Ok(())
}

/// Creates `path` readable by its owner only (0600), failing if anything exists there.
///
/// `create_new` is O_CREAT|O_EXCL, which fails on any existing entry, a symlink (even a
/// dangling one) included, and so never follows one. O_NOFOLLOW would add nothing, and the
/// crate does not depend on libc for it.
fn create_private(path: &Path) -> std::io::Result<std::fs::File> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    options.open(path)
}

/// Writes `bytes` to `path` readable by its owner only (0600), atomically: a new file with
/// a random name in the same folder, synced, then renamed over `path`.
pub(super) fn write_private(path: &Path, bytes: &[u8]) -> Result<(), String> {
    check_folder(path)?;
    let temp = sibling(path, &format!(".{}.tmp", random_token()));
    let mut file = create_private(&temp).map_err(|e| format!("{}: {e}", temp.display()))?;
    let written = file.write_all(bytes).and_then(|()| file.sync_all());
    drop(file);
    if let Err(e) = written.and_then(|()| std::fs::rename(&temp, path)) {
        let _ = std::fs::remove_file(&temp);
        return Err(format!("{}: {e}", path.display()));
    }
    Ok(())
}

/// Creates the lock file `path` (exclusively) holding a new random token, and returns it.
fn create_lock(path: &Path) -> std::io::Result<String> {
    let token = random_token();
    let mut file = create_private(path)?;
    if let Err(e) = file.write_all(token.as_bytes()) {
        drop(file);
        let _ = std::fs::remove_file(path);
        return Err(e);
    }
    Ok(token)
}

/// Whether a file modified `at` is older than [`LOCK_TTL`] (a time in the future is not).
fn is_stale(at: SystemTime) -> bool {
    at.elapsed().is_ok_and(|age| age > LOCK_TTL)
}

/// The lock file at `lock`, if any: its identity (a digest of its content, a random token,
/// and of its modification time; read from one open file, so from one lock) and whether
/// it is stale.
fn lock_identity(lock: &Path) -> std::io::Result<Option<(String, bool)>> {
    let file = match std::fs::File::open(lock) {
        Ok(file) => file,
        Err(e) if e.kind() == ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e),
    };
    let modified = file.metadata()?.modified()?;
    let mut content = Vec::new();
    file.take(256).read_to_end(&mut content)?;
    let nanos = modified
        .duration_since(SystemTime::UNIX_EPOCH)
        .map(|since| since.as_nanos())
        .unwrap_or_default();
    let mut hasher = Sha256::new();
    hasher.update(nanos.to_be_bytes());
    hasher.update(&content);
    let identity = crate::signing::b64(&hasher.finalize()[..18]);
    Ok(Some((identity, is_stale(modified))))
}

/// Takes `registration_file`'s lock, `<file>.lock`, or `None` when another instance holds
/// it (or is taking it over).
pub(super) fn take_file_lock(registration_file: &Path) -> Result<Option<FileLock>, String> {
    check_folder(registration_file)?;
    let lock = lock_path(registration_file);
    let shown = |e: std::io::Error| {
        format!(
            "{}: {e} (can this app's user write the folder of registration_file?)",
            lock.display()
        )
    };
    match create_lock(&lock) {
        Ok(token) => return Ok(Some(FileLock { path: lock, token })),
        Err(e) if e.kind() == ErrorKind::AlreadyExists => {}
        Err(e) => return Err(shown(e)),
    }
    match lock_identity(&lock).map_err(shown)? {
        // Its holder died while registering.
        Some((identity, true)) => take_over(&lock, &identity).map_err(shown),
        // Held, or just released (the next try takes it).
        _ => Ok(None),
    }
}

/// Takes over the stale lock `lock` whose identity is `identity`, or `None` when another
/// instance does.
///
/// Removing a stale lock, or renaming it away, acts on whatever is at that name by then,
/// possibly the fresh lock of an instance that took it over a moment earlier; and while
/// the name is vacant a third instance can create it. So the lock is never removed here,
/// it is replaced in one step, by the one instance allowed to:
///
/// 1. The right to replace the lock of this identity is a claim file,
///    `<lock>.takeover.<identity>.0`, created exclusively: one instance creates it, the
///    others find it and give up (`None`).
/// 2. The winner writes its own lock (a fresh token) to a new random name, checks that the
///    lock still has the stale identity (another winner, for an identity seen earlier,
///    would have replaced it, and its holder may have released it meanwhile), and renames
///    its file over the lock: atomic, the lock's name is never vacant.
/// 3. It removes the claims. One found later, for the old identity, fails step 2's check.
///
/// A claim older than [`LOCK_TTL`] belongs to an instance that died during the takeover
/// (between two file operations): the claim of the next level (`.1`, ...) is taken
/// instead, so a crash never blocks registration for good.
///
/// The one assumption, as for the lock itself: what is older than [`LOCK_TTL`] is dead. An
/// instance that stalls that long within these few file operations, or that holds its
/// lock that long, may end up sharing it (and its late `unlock` removes only its own).
fn take_over(lock: &Path, identity: &str) -> std::io::Result<Option<FileLock>> {
    let claim = |level: u32| sibling(lock, &format!(".takeover.{identity}.{level}"));
    let mut level = 0;
    loop {
        match create_private(&claim(level)) {
            Ok(_) => break,
            Err(e) if e.kind() == ErrorKind::AlreadyExists => {
                let dead = std::fs::metadata(claim(level))
                    .and_then(|m| m.modified())
                    .is_ok_and(is_stale);
                if !dead {
                    return Ok(None);
                }
                level += 1;
            }
            Err(e) => return Err(e),
        }
    }
    let temp = sibling(lock, &format!(".{}.tmp", random_token()));
    let replaced = create_lock(&temp).and_then(|token| {
        let unchanged = lock_identity(lock)?.is_some_and(|(now, _)| now == identity);
        if !unchanged {
            return Ok(None);
        }
        std::fs::rename(&temp, lock)?;
        Ok(Some(token))
    });
    if !matches!(replaced, Ok(Some(_))) {
        let _ = std::fs::remove_file(&temp);
    }
    for level in 0..=level {
        let _ = std::fs::remove_file(claim(level));
    }
    Ok(replaced?.map(|token| FileLock {
        path: lock.to_path_buf(),
        token,
    }))
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::time::Duration;

    use super::super::kept::{Lock, Persistence};
    use super::*;

    /// A new folder of its own, writable by its owner only.
    fn folder() -> PathBuf {
        let dir = std::env::temp_dir().join(format!("oidc-reg-{}", random_token()));
        std::fs::create_dir_all(&dir).unwrap();
        #[cfg(unix)]
        chmod(&dir, 0o700);
        dir
    }

    #[cfg(unix)]
    fn chmod(path: &Path, mode: u32) {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
    }

    #[cfg(unix)]
    fn mode(path: &Path) -> u32 {
        use std::os::unix::fs::PermissionsExt;
        std::fs::symlink_metadata(path)
            .unwrap()
            .permissions()
            .mode()
            & 0o7777
    }

    fn names(dir: &Path) -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(dir)
            .unwrap()
            .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    }

    fn block_on<F: std::future::Future>(future: F) -> F::Output {
        tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap()
            .block_on(future)
    }

    /// A lock file holding `token`, last modified `age` ago.
    fn lock_file(path: &Path, token: &str, age: Duration) {
        std::fs::write(path, token).unwrap();
        let file = std::fs::OpenOptions::new().write(true).open(path).unwrap();
        file.set_modified(SystemTime::now() - age).unwrap();
    }

    const STALE: Duration = Duration::from_secs(LOCK_TTL.as_secs() + 60);

    fn token(lock: Option<Lock>) -> Option<String> {
        match lock {
            Some(Lock::File(FileLock { token, .. })) => Some(token),
            Some(Lock::Store(_)) => panic!("a file lock"),
            None => None,
        }
    }

    #[test]
    fn the_registration_file_is_private_and_replaced_whole() {
        let dir = folder();
        let path = dir.join("client.json");
        write_private(&path, b"one").unwrap();
        write_private(&path, b"two").unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"two");
        #[cfg(unix)]
        assert_eq!(mode(&path), 0o600);
        assert_eq!(names(&dir), ["client.json"], "no temporary left");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[cfg(unix)]
    #[test]
    fn a_symlink_at_the_former_temporary_name_redirects_nothing() {
        let dir = folder();
        let path = dir.join("client.json");
        let elsewhere = dir.join("elsewhere");
        std::fs::write(&elsewhere, b"untouched").unwrap();
        let planted = dir.join(format!("client.json.{}.tmp", std::process::id()));
        std::os::unix::fs::symlink(&elsewhere, &planted).unwrap();

        write_private(&path, b"secret").unwrap();

        assert_eq!(std::fs::read(&elsewhere).unwrap(), b"untouched");
        assert!(std::fs::symlink_metadata(&path).unwrap().is_file());
        assert_eq!(std::fs::read(&path).unwrap(), b"secret");
        assert_eq!(mode(&path), 0o600);
        assert!(std::fs::symlink_metadata(&planted)
            .unwrap()
            .file_type()
            .is_symlink());
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[cfg(unix)]
    #[test]
    fn a_file_planted_at_the_former_temporary_name_lends_it_no_mode() {
        let dir = folder();
        let path = dir.join("client.json");
        let planted = dir.join(format!("client.json.{}.tmp", std::process::id()));
        std::fs::write(&planted, b"planted").unwrap();
        chmod(&planted, 0o666);

        write_private(&path, b"secret").unwrap();

        assert_eq!(mode(&path), 0o600);
        assert_eq!(std::fs::read(&path).unwrap(), b"secret");
        assert_eq!(std::fs::read(&planted).unwrap(), b"planted");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[cfg(unix)]
    #[test]
    fn a_folder_other_users_can_write_is_refused_unless_sticky() {
        let dir = folder();
        let path = dir.join("client.json");
        let persistence = Persistence::File(path.clone());
        for refused in [0o777, 0o770, 0o702] {
            chmod(&dir, refused);
            let err = write_private(&path, b"secret").unwrap_err();
            assert!(err.contains("chmod go-w"), "{err}");
            assert!(err.contains(&dir.display().to_string()), "{err}");
            let err = block_on(persistence.try_lock("p")).err().expect("refused");
            let detail = err.developer_detail().unwrap();
            assert!(detail.contains("chmod go-w"), "{detail}");
            assert!(
                detail.contains("a folder only this app's user can write"),
                "{detail}"
            );
            assert_eq!(names(&dir), Vec::<String>::new(), "nothing written");
        }
        std::fs::write(&path, b"{}").unwrap();
        let err = block_on(persistence.load("p")).err().expect("not read");
        assert!(err.contains("chmod go-w"), "{err}");
        std::fs::remove_file(&path).unwrap();
        for accepted in [0o1777, 0o1770, 0o700, 0o755] {
            chmod(&dir, accepted);
            write_private(&path, b"secret").unwrap();
            assert_eq!(std::fs::read(&path).unwrap(), b"secret");
            let lock = block_on(persistence.try_lock("p")).unwrap().expect("taken");
            block_on(persistence.unlock(lock));
            assert_eq!(names(&dir), ["client.json"]);
        }
        chmod(&dir, 0o700);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_fresh_lock_is_waited_for_and_a_stale_one_taken_over() {
        let dir = folder();
        let path = dir.join("client.json");
        let lock = lock_path(&path);
        let persistence = Persistence::File(path.clone());

        lock_file(&lock, "fresh", Duration::from_secs(1));
        assert!(token(block_on(persistence.try_lock("p")).unwrap()).is_none());
        assert_eq!(std::fs::read(&lock).unwrap(), b"fresh");

        lock_file(&lock, "stale", STALE);
        let taken = token(block_on(persistence.try_lock("p")).unwrap()).expect("taken over");
        assert_eq!(std::fs::read(&lock).unwrap(), taken.as_bytes());
        assert_eq!(
            names(&dir),
            ["client.json.lock"],
            "no claim or temporary left"
        );
        assert!(token(block_on(persistence.try_lock("p")).unwrap()).is_none());

        // The instance that held the stale lock, finishing late, leaves the new one alone.
        let late = Lock::File(FileLock {
            path: lock.clone(),
            token: "stale".into(),
        });
        block_on(persistence.unlock(late));
        assert_eq!(std::fs::read(&lock).unwrap(), taken.as_bytes());
        let ours = Lock::File(FileLock {
            path: lock.clone(),
            token: taken,
        });
        block_on(persistence.unlock(ours));
        assert_eq!(names(&dir), Vec::<String>::new());
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_takeover_left_halfway_is_taken_over_in_turn() {
        let dir = folder();
        let path = dir.join("client.json");
        let lock = lock_path(&path);
        let persistence = Persistence::File(path.clone());
        lock_file(&lock, "stale", STALE);
        let (identity, stale) = lock_identity(&lock).unwrap().unwrap();
        assert!(stale);
        let claim = sibling(&lock, &format!(".takeover.{identity}.0"));

        // An instance is taking it over: the others leave it.
        lock_file(&claim, "", Duration::from_secs(1));
        assert!(token(block_on(persistence.try_lock("p")).unwrap()).is_none());
        assert_eq!(std::fs::read(&lock).unwrap(), b"stale");

        // It died doing so.
        lock_file(&claim, "", STALE);
        let taken = token(block_on(persistence.try_lock("p")).unwrap()).expect("taken over");
        assert_eq!(std::fs::read(&lock).unwrap(), taken.as_bytes());
        assert_eq!(
            names(&dir),
            ["client.json.lock"],
            "no claim or temporary left"
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }

    /// Exactly one winner per round, and nothing left behind. (A takeover that removes the
    /// stale lock and then creates its own gives two winners in about one round in a
    /// hundred here: one removes the lock another just created.)
    #[test]
    fn instances_seeing_a_stale_lock_at_once_take_it_over_once() {
        const INSTANCES: usize = 8;
        let dir = folder();
        let path = dir.join("client.json");
        let lock = lock_path(&path);
        for round in 0..100 {
            lock_file(&lock, &format!("stale {round}"), STALE);
            let barrier = Arc::new(std::sync::Barrier::new(INSTANCES));
            let racers: Vec<_> = (0..INSTANCES)
                .map(|_| {
                    let barrier = barrier.clone();
                    let persistence = Persistence::File(path.clone());
                    std::thread::spawn(move || {
                        let runtime = tokio::runtime::Builder::new_current_thread()
                            .build()
                            .unwrap();
                        barrier.wait();
                        token(runtime.block_on(persistence.try_lock("p")).unwrap())
                    })
                })
                .collect();
            let winners: Vec<String> = racers
                .into_iter()
                .filter_map(|racer| racer.join().unwrap())
                .collect();
            assert_eq!(winners.len(), 1, "round {round}: {winners:?}");
            assert_eq!(std::fs::read(&lock).unwrap(), winners[0].as_bytes());
            assert_eq!(names(&dir), ["client.json.lock"], "round {round}");
            std::fs::remove_file(&lock).unwrap();
        }
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
