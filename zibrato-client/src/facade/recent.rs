//! Each thread's recently used `metrics` keys and their handles, so the macros' call
//! on every use is a slot check rather than a locked map lookup.

use std::cell::RefCell;
use std::sync::Arc;

use metrics::Key;

use super::RecorderShared;
use super::handles::{Binding, Kind};

/// Slots per thread, indexed by the key's precomputed hash (a power of two).
const SLOTS: usize = 256;

struct Slot {
    recorder: u64,
    kind: Kind,
    key: Key,
    binding: Arc<Binding>,
}

thread_local! {
    static RECENT: RefCell<Vec<Option<Slot>>> = const { RefCell::new(Vec::new()) };
}

/// This thread's handle for `key`: from its slot, or bound and put in the slot.
#[inline]
pub(super) fn handle(shared: &RecorderShared, kind: Kind, key: &Key) -> Arc<Binding> {
    let index = (key.get_hash() as usize ^ kind as usize) & (SLOTS - 1);
    RECENT
        .try_with(|recent| {
            let Ok(mut recent) = recent.try_borrow_mut() else {
                return None;
            };
            if let Some(Some(slot)) = recent.get(index) {
                if slot.recorder == shared.id && slot.kind == kind && slot.key == *key {
                    return Some(Arc::clone(&slot.binding));
                }
            }
            if recent.is_empty() {
                recent.resize_with(SLOTS, || None);
            }
            let binding = Arc::new(shared.bind(kind, key));
            recent[index] = Some(Slot {
                recorder: shared.id,
                kind,
                key: key.clone(),
                binding: Arc::clone(&binding),
            });
            Some(binding)
        })
        .ok()
        .flatten()
        // The thread is ending (or re-entered): no cache, still recorded.
        .unwrap_or_else(|| Arc::new(shared.bind(kind, key)))
}
