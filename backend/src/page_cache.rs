//! Task-list pages this replica has answered, each kept with the user's task-list version it
//! was read at (`task_list_versions`, kept by triggers in the writers' own transactions).
//!
//! Asking for the same page again costs one indexed read of that version, which the session
//! check rides along with, instead of reading, decoding and serialising every row: when the
//! version is unchanged the cached body is the page, byte for byte, whichever replica made the
//! last change. A changed version reads the page again. Nothing is answered from here without
//! that check, so there is no staleness to tune.
//!
//! Bounded by bytes; the oldest entry goes first. A budget of 0 keeps nothing.

use axum::body::Bytes;
use std::{
    collections::{HashMap, VecDeque},
    sync::Mutex,
};
use uuid::Uuid;

/// One user's request for one page: the query string as the client sent it (pages of the same
/// filter asked differently are kept apart, which costs a miss, never a wrong page).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct PageKey {
    user: Uuid,
    query: Box<str>,
}

impl PageKey {
    pub fn new(user: Uuid, query: Option<&str>) -> Self {
        Self { user, query: query.unwrap_or_default().into() }
    }

    /// What the key holds, counted twice: the map's copy and the eviction queue's.
    fn weight(&self) -> usize {
        2 * (size_of::<Self>() + self.query.len())
    }
}

/// A page's JSON body, and the version of the user's tasks it was read at.
#[derive(Debug, Clone)]
pub struct CachedPage {
    pub version: i64,
    pub body: Bytes,
}

#[derive(Debug)]
pub struct PageCache {
    budget: usize,
    inner: Mutex<Inner>,
}

#[derive(Debug, Default)]
struct Inner {
    pages: HashMap<PageKey, CachedPage>,
    /// Keys in the order first stored: one per entry of `pages`.
    order: VecDeque<PageKey>,
    bytes: usize,
}

fn weight(key: &PageKey, page: &CachedPage) -> usize {
    key.weight() + size_of::<CachedPage>() + page.body.len()
}

impl PageCache {
    pub fn new(budget_bytes: usize) -> Self {
        Self { budget: budget_bytes, inner: Mutex::default() }
    }

    pub fn get(&self, key: &PageKey) -> Option<CachedPage> {
        self.lock().pages.get(key).cloned()
    }

    /// Keeps `page` for `key`, unless a page read at a later version is there already (a slower
    /// request finishing after a faster one) or it alone is over the budget.
    pub fn put(&self, key: PageKey, page: CachedPage) {
        let added = weight(&key, &page);
        if added > self.budget {
            return;
        }
        let mut inner = self.lock();
        match inner.pages.get_mut(&key) {
            Some(kept) if kept.version > page.version => return,
            Some(kept) => {
                let removed = weight(&key, kept);
                *kept = page;
                inner.bytes = inner.bytes - removed + added;
            }
            None => {
                inner.order.push_back(key.clone());
                inner.pages.insert(key, page);
                inner.bytes += added;
            }
        }
        while inner.bytes > self.budget {
            let Some(oldest) = inner.order.pop_front() else { break };
            if let Some(evicted) = inner.pages.remove(&oldest) {
                inner.bytes -= weight(&oldest, &evicted);
            }
        }
    }

    #[cfg(test)]
    fn stored_bytes(&self) -> usize {
        self.lock().bytes
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        // The map is consistent after every statement that changes it: a panic elsewhere while
        // the lock was held leaves nothing half done.
        self.inner.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn page(version: i64, bytes: usize) -> CachedPage {
        CachedPage { version, body: Bytes::from(vec![b'x'; bytes]) }
    }

    fn key(user: u128, query: &str) -> PageKey {
        PageKey::new(Uuid::from_u128(user), Some(query))
    }

    #[test]
    fn a_page_is_kept_per_user_and_query() {
        let pages = PageCache::new(1 << 20);
        pages.put(key(1, "sort=due"), page(3, 10));
        assert_eq!(pages.get(&key(1, "sort=due")).map(|p| p.version), Some(3));
        assert!(pages.get(&key(2, "sort=due")).is_none(), "another user's page");
        assert!(pages.get(&key(1, "")).is_none(), "another query");
        assert_eq!(PageKey::new(Uuid::from_u128(1), None), key(1, ""));
    }

    #[test]
    fn an_older_read_never_replaces_a_newer_one() {
        let pages = PageCache::new(1 << 20);
        pages.put(key(1, ""), page(5, 10));
        pages.put(key(1, ""), page(4, 20));
        assert_eq!(pages.get(&key(1, "")).map(|p| (p.version, p.body.len())), Some((5, 10)));
        pages.put(key(1, ""), page(6, 30));
        assert_eq!(pages.get(&key(1, "")).map(|p| (p.version, p.body.len())), Some((6, 30)));
    }

    #[test]
    fn the_budget_holds_and_the_oldest_goes_first() {
        let one = weight(&key(1, ""), &page(1, 1000));
        let pages = PageCache::new(3 * one);
        for user in 1..=3 {
            pages.put(key(user, ""), page(1, 1000));
        }
        assert_eq!(pages.stored_bytes(), 3 * one);
        // Replacing keeps the entry's place and its count right.
        pages.put(key(1, ""), page(2, 1000));
        assert_eq!(pages.stored_bytes(), 3 * one);
        pages.put(key(4, ""), page(1, 1000));
        assert!(pages.get(&key(1, "")).is_none(), "the first stored goes first");
        assert!((2..=4).all(|user| pages.get(&key(user, "")).is_some()));
        assert_eq!(pages.stored_bytes(), 3 * one);
        // A larger page makes room for itself by evicting as many as it takes.
        pages.put(key(5, ""), page(1, 2500));
        assert!(pages.stored_bytes() <= 3 * one);
        assert!(pages.get(&key(5, "")).is_some());
        assert!(pages.get(&key(2, "")).is_none() && pages.get(&key(3, "")).is_none());
    }

    #[test]
    fn nothing_is_kept_with_no_budget_or_over_it() {
        let off = PageCache::new(0);
        off.put(key(1, ""), page(1, 1));
        assert!(off.get(&key(1, "")).is_none());
        assert_eq!(off.stored_bytes(), 0);
        let small = PageCache::new(100);
        small.put(key(1, ""), page(1, 1000));
        assert!(small.get(&key(1, "")).is_none());
    }
}
