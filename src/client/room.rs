//! [`Room`]: what the client knows about the room: its own nick and who is here.
//!
//! The session thread keeps it up to date from the events it reads; the main
//! thread reads it for the prompt (`alice> `) and Tab completion. It is small and
//! only ever locked for a moment, so a mutex is the simple, right tool.

use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use crate::protocol::text::{clean, nick_key};
use crate::protocol::Event;

/// The room, shared between the session thread and the main thread.
pub type SharedRoom = Arc<Mutex<Room>>;

/// Our nick and the people in the room, sorted ignoring case.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Room {
    me: String,
    users: Vec<String>,
}

impl Room {
    /// A room we are about to join as `me`.
    pub fn new(me: &str) -> Room {
        Room { me: me.to_owned(), users: Vec::new() }
    }

    /// A room to share between threads.
    pub fn shared(me: &str) -> SharedRoom {
        Arc::new(Mutex::new(Room::new(me)))
    }

    /// Our nick: the one we joined with, or the one to rejoin with.
    pub fn me(&self) -> &str {
        &self.me
    }

    /// Sets the nick to (re)join with, e.g. after `/nick` while disconnected.
    pub fn set_me(&mut self, nick: &str) {
        nick.clone_into(&mut self.me);
    }

    /// Everyone in the room, ourselves included.
    pub fn users(&self) -> &[String] {
        &self.users
    }

    /// Follows an event from the server.
    pub fn apply(&mut self, event: &Event) {
        match event {
            Event::Welcome { nick, users, .. } => {
                self.me = clean(nick);
                self.set_users(users);
            }
            Event::Who { users } => self.set_users(users),
            Event::Join { nick, .. } => self.add(clean(nick)),
            Event::Leave { nick, .. } => self.remove(nick),
            Event::Nick { old, new, .. } => {
                self.remove(old);
                self.add(clean(new));
                if nick_key(old) == nick_key(&self.me) {
                    self.me = clean(new);
                }
            }
            Event::Msg(_) | Event::Pong { .. } | Event::Error { .. } | Event::Bye { .. } => {}
        }
    }

    fn set_users(&mut self, users: &[String]) {
        self.users.clear();
        for user in users {
            self.add(clean(user));
        }
    }

    fn add(&mut self, nick: String) {
        let key = nick_key(&nick);
        if let Err(at) = self.users.binary_search_by_key(&key, |user| nick_key(user)) {
            self.users.insert(at, nick);
        }
    }

    fn remove(&mut self, nick: &str) {
        let key = nick_key(nick);
        self.users.retain(|user| nick_key(user) != key);
    }
}

/// Locks the room. A panic elsewhere cannot leave it half-updated (every
/// change is one assignment or one insert), so a poisoned lock is still usable.
pub fn lock(room: &SharedRoom) -> MutexGuard<'_, Room> {
    room.lock().unwrap_or_else(PoisonError::into_inner)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn welcome(users: &[&str]) -> Event {
        Event::Welcome {
            nick: "al".into(),
            users: users.iter().map(|u| u.to_string()).collect(),
            motd: None,
        }
    }

    #[test]
    fn follows_joins_leaves_and_renames() {
        let mut room = Room::new("al");
        room.apply(&welcome(&["bob", "al", "Carol"]));
        assert_eq!(room.users(), ["al", "bob", "Carol"]);
        room.apply(&Event::Join { ts: 0, nick: "dave".into() });
        room.apply(&Event::Join { ts: 0, nick: "dave".into() });
        room.apply(&Event::Leave { ts: 0, nick: "BOB".into(), reason: "quit".into() });
        assert_eq!(room.users(), ["al", "Carol", "dave"]);
        room.apply(&Event::Nick { ts: 0, old: "dave".into(), new: "Ann".into() });
        assert_eq!(room.users(), ["al", "Ann", "Carol"]);
        assert_eq!(room.me(), "al");
    }

    #[test]
    fn follows_our_own_rename_and_who() {
        let mut room = Room::new("al");
        room.apply(&welcome(&["al"]));
        room.apply(&Event::Nick { ts: 0, old: "al".into(), new: "ally".into() });
        assert_eq!(room.me(), "ally");
        assert_eq!(room.users(), ["ally"]);
        room.apply(&Event::Who { users: vec!["zed".into(), "ally".into()] });
        assert_eq!(room.users(), ["ally", "zed"]);
    }

    #[test]
    fn nicks_from_the_network_are_cleaned() {
        let mut room = Room::new("al");
        room.apply(&Event::Join { ts: 0, nick: "ev\u{1b}[2Jil".into() });
        assert_eq!(room.users(), ["ev[2Jil"]);
    }
}
