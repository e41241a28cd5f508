//! The users and the room a scenario needs, made before anything is timed.
//!
//! A server the bench spawns gets its users written straight into its
//! database before it starts, with a deliberately cheap Argon2id hash
//! (8 KiB, one pass): logging in thousands of subscriber connections then
//! costs microseconds, not the ~50 ms per login of a real hash, and the
//! server's memory is not inflated by Argon2's 19 MiB buffers. Only the
//! `login` scenario measures real hashes, and it always registers over the
//! wire. A remote server (or `--real-accounts`) gets everyone registered over
//! the wire, which takes two real hashes per user.

use std::path::Path;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use argon2::password_hash::PasswordHasher;
use argon2::{Algorithm, Argon2, Params, Version};

use super::client::{Client, ClientError, Endpoint};
use super::progress;
use super::target::{ServerProcess, Target, Workspace};
use super::{BenchError, Ctx, ServerChoice};
use crate::store::seed::Seeder;

/// Connections opened at once while setting up.
const SETUP_WORKERS: usize = 8;

/// A user the bench made, with its password.
#[derive(Debug, Clone)]
pub struct Account {
    pub username: String,
    pub password: String,
}

/// The users of one scenario, all members of its room.
#[derive(Debug, Clone)]
pub struct Cast {
    pub room: String,
    pub accounts: Vec<Account>,
}

impl Cast {
    /// `users` accounts named after the run's `tag`, so that runs against
    /// the same server never collide.
    pub fn new(tag: &str, scenario: &str, users: usize) -> Cast {
        let accounts = (0..users.max(1))
            .map(|i| {
                let username = format!("b{tag}-{i}");
                Account {
                    password: format!("pw-{username}-bench"),
                    username,
                }
            })
            .collect();
        Cast {
            room: format!("bench-{scenario}-{tag}"),
            accounts,
        }
    }

    /// The account connection `i` logs in as: round robin.
    pub fn account_for(&self, i: usize) -> &Account {
        &self.accounts[i % self.accounts.len()]
    }
}

/// Gets the server ready for `cast`: spawns one (seeding its database first,
/// unless real accounts are asked for) or registers the cast on the remote
/// one. `connections` is how many the scenario will hold at once.
pub fn start(ctx: &Ctx, cast: &Cast, connections: usize) -> Result<Target, BenchError> {
    match &ctx.server {
        ServerChoice::Remote(endpoints) => {
            register(endpoints[0], cast, ctx)?;
            Ok(Target::Remote(endpoints.clone()))
        }
        ServerChoice::Spawn(_) => {
            let workspace = Workspace::new()?;
            if !ctx.real_accounts {
                seed(&workspace.db(), cast)?;
            }
            let server = spawn(ctx, &workspace, connections)?;
            if ctx.real_accounts {
                register(server.endpoint(), cast, ctx)?;
            }
            Ok(Target::Spawned { server, workspace })
        }
    }
}

/// Spawns a server on the workspace's database, allowing `connections`.
pub fn spawn(
    ctx: &Ctx,
    workspace: &Workspace,
    connections: usize,
) -> Result<ServerProcess, BenchError> {
    let ServerChoice::Spawn(options) = &ctx.server else {
        return Err(BenchError::Usage("this scenario needs --spawn".to_string()));
    };
    let mut options = options.clone();
    // The server's own default is 10,000; leave room for set-up connections
    // that are still closing.
    let wanted = connections + 100;
    if options.max_connections.is_none() && wanted > 10_000 {
        options.max_connections = Some(wanted);
    }
    ServerProcess::spawn(&workspace.db(), workspace.path(), &options, &ctx.deadline)
}

/// Writes the cast (users with cheap hashes, the room, memberships) into the
/// database at `db`, creating it when missing.
pub fn seed(db: &Path, cast: &Cast) -> Result<(), BenchError> {
    let hashes = cast
        .accounts
        .iter()
        .map(|account| cheap_hash(&account.password))
        .collect::<Result<Vec<_>, _>>()?;
    Seeder::open(db)?.transaction(|db| {
        let mut users = Vec::with_capacity(cast.accounts.len());
        for (account, hash) in cast.accounts.iter().zip(&hashes) {
            users.push(db.insert_user(&account.username, hash)?.ok_or_else(|| {
                BenchError::Server(format!("user {} already exists", account.username))
            })?);
        }
        let room = db
            .insert_room(&cast.room, users[0].id)?
            .ok_or_else(|| BenchError::Server(format!("room {} already exists", cast.room)))?;
        for user in &users {
            db.insert_membership(&room, user)?;
        }
        Ok(())
    })
}

/// A database filled by [`fill`].
pub struct Filled {
    pub elapsed: Duration,
    pub bytes: u64,
    /// The rooms' names, the cast's room first.
    pub rooms: Vec<String>,
}

/// Adds rooms (the cast's room and `rooms - 1` more) and `messages` messages
/// to a database [`seed`]ed with `cast`, dealt out to the rooms and the
/// cast's users in turn, message `i` saying `text(i)`. With
/// `everyone_joins`, every user of the cast is a member of every room.
pub fn fill(
    ctx: &Ctx,
    db: &Path,
    cast: &Cast,
    rooms: u64,
    messages: u64,
    everyone_joins: bool,
    text: impl Fn(u64) -> String,
) -> Result<Filled, BenchError> {
    let seeder = Seeder::open(db)?;
    let (rooms, authors) = seeder.transaction(|db| {
        let first_room = db
            .find_room(&cast.room)?
            .ok_or_else(|| BenchError::Server("the seeded room is missing".to_string()))?;
        let mut authors = Vec::with_capacity(cast.accounts.len());
        for account in &cast.accounts {
            let user = db.find_user(&account.username)?.ok_or_else(|| {
                BenchError::Server(format!("the seeded user {} is missing", account.username))
            })?;
            authors.push(user);
        }
        let mut all = vec![first_room];
        for k in 1..rooms.max(1) {
            let name = format!("{}-{k}", cast.room);
            let room = db
                .insert_room(&name, authors[0].id)?
                .ok_or_else(|| BenchError::Server(format!("room {name} already exists")))?;
            if everyone_joins {
                for author in &authors {
                    db.insert_membership(&room, author)?;
                }
            }
            all.push(room);
        }
        Ok::<_, BenchError>((all, authors))
    })?;

    let bar = progress::bar(ctx, messages, "filling the database");
    let started = Instant::now();
    seeder.fill_messages(&rooms, &authors, messages, text, |written| {
        bar.inc(written);
    })?;
    seeder.finish()?;
    let elapsed = started.elapsed();
    bar.finish_and_clear();
    Ok(Filled {
        elapsed,
        bytes: std::fs::metadata(db)?.len(),
        rooms: rooms.into_iter().map(|room| room.name).collect(),
    })
}

/// An Argon2id PHC string the server verifies in microseconds: it takes the
/// cost parameters from the stored string.
pub fn cheap_hash(password: &str) -> Result<String, BenchError> {
    let params = Params::new(8, 1, 1, None).map_err(|err| BenchError::Hash(err.to_string()))?;
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
        .hash_password(password.as_bytes())
        .map(|hash| hash.to_string())
        .map_err(|err| BenchError::Hash(err.to_string()))
}

/// Registers the cast over the wire: the first user creates the room, then
/// everyone registers, logs in and joins, a few at a time.
pub fn register(addr: Endpoint, cast: &Cast, ctx: &Ctx) -> Result<(), BenchError> {
    let bar = progress::bar(ctx, cast.accounts.len() as u64, "registering users");
    let first = &cast.accounts[0];
    let mut client = Client::connect(addr)?;
    client.expect("/register", &[&first.username, &first.password], 201)?;
    client.expect("/login", &[&first.username, &first.password], 200)?;
    client.expect("/createChatroom", &[&cast.room], 201)?;
    client.expect("/joinChatroom", &[&cast.room], 200)?;
    bar.inc(1);
    let rest: Vec<usize> = (1..cast.accounts.len()).collect();
    for_each_concurrently(&rest, ctx, "registering users", |i| {
        let account = &cast.accounts[i];
        let mut client = Client::connect(addr)?;
        client.expect("/register", &[&account.username, &account.password], 201)?;
        client.expect("/login", &[&account.username, &account.password], 200)?;
        client.expect("/joinChatroom", &[&cast.room], 200)?;
        bar.inc(1);
        Ok(())
    })?;
    bar.finish_and_clear();
    Ok(())
}

/// Opens `count` connections, connection `i` logged in as
/// [`Cast::account_for`]`(i)` and then prepared by `then` (e.g. subscribed).
pub fn sessions(
    addr_of: impl Fn(usize) -> Endpoint + Sync,
    cast: &Cast,
    count: usize,
    ctx: &Ctx,
    what: &str,
    then: impl Fn(usize, &mut Client) -> Result<(), ClientError> + Sync,
) -> Result<Vec<Client>, BenchError> {
    let bar = progress::bar(ctx, count as u64, what);
    let slots: Vec<Mutex<Option<Client>>> = (0..count).map(|_| Mutex::new(None)).collect();
    let indexes: Vec<usize> = (0..count).collect();
    for_each_concurrently(&indexes, ctx, what, |i| {
        let account = cast.account_for(i);
        let mut client = Client::connect(addr_of(i))?;
        // A server that stops answering holds no read past the run's time
        // left (at most the client's own timeout).
        client.set_read_timeout(Some(ctx.deadline.read_timeout()))?;
        client.expect("/login", &[&account.username, &account.password], 200)?;
        then(i, &mut client)?;
        *slots[i].lock().unwrap_or_else(|p| p.into_inner()) = Some(client);
        bar.inc(1);
        Ok(())
    })?;
    bar.finish_and_clear();
    Ok(slots
        .into_iter()
        .filter_map(|slot| slot.into_inner().unwrap_or_else(|p| p.into_inner()))
        .collect())
}

/// Runs `work` for every item on a few threads; stops at the first error or
/// when the run's deadline passes.
fn for_each_concurrently(
    items: &[usize],
    ctx: &Ctx,
    step: &str,
    work: impl Fn(usize) -> Result<(), ClientError> + Sync,
) -> Result<(), BenchError> {
    let failed: Mutex<Option<BenchError>> = Mutex::new(None);
    let next = AtomicUsize::new(0);
    let done = AtomicUsize::new(0);
    let workers = SETUP_WORKERS.min(items.len());
    std::thread::scope(|scope| {
        for _ in 0..workers {
            scope.spawn(|| {
                loop {
                    if failed.lock().map(|f| f.is_some()).unwrap_or(true) {
                        return;
                    }
                    let at = next.fetch_add(1, Ordering::Relaxed);
                    let Some(&item) = items.get(at) else { return };
                    let outcome = ctx
                        .deadline
                        .check("setting up")
                        .and_then(|()| work(item).map_err(BenchError::from));
                    match outcome {
                        Ok(()) => {
                            done.fetch_add(1, Ordering::Relaxed);
                        }
                        Err(err) => {
                            let mut failed = failed.lock().unwrap_or_else(|p| p.into_inner());
                            failed.get_or_insert(err);
                            return;
                        }
                    }
                }
            });
        }
    });
    match failed.into_inner().unwrap_or_else(|p| p.into_inner()) {
        Some(err) => Err(BenchError::Setup {
            step: step.to_string(),
            done: done.into_inner(),
            total: items.len(),
            source: Box::new(err),
        }),
        None => Ok(()),
    }
}
