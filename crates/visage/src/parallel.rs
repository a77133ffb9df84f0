//! An ordered parallel map: run a function over many inputs on several threads and hand each result
//! to the caller in input order, as soon as it and every earlier one are done.
//!
//! Every multi-image command goes through [`map_ordered`]: the output keeps the order of the inputs
//! whatever the number of workers, and a caller that commits or prints each result as it arrives never
//! reports item `i + 1` before item `i`.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc;

/// The default number of workers: every core the process may use.
pub fn default_workers() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

/// Runs `work` on every item with `workers` threads (at least one) and calls `sink(index, result)` on
/// the calling thread in input order. Returns when every item is done.
///
/// Results that finish early wait in memory until the earlier ones arrive. A panic in `work` is
/// propagated to the caller after the other workers stop.
pub fn map_ordered<T, R, W, S>(items: &[T], workers: usize, work: W, mut sink: S)
where
    T: Sync,
    R: Send,
    W: Fn(&T) -> R + Sync,
    S: FnMut(usize, R),
{
    let next = AtomicUsize::new(0);
    let (tx, rx) = mpsc::channel::<(usize, R)>();
    std::thread::scope(|scope| {
        for _ in 0..workers.clamp(1, items.len().max(1)) {
            let tx = tx.clone();
            let (next, work) = (&next, &work);
            scope.spawn(move || loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                let Some(item) = items.get(i) else { break };
                if tx.send((i, work(item))).is_err() {
                    break;
                }
            });
        }
        drop(tx);
        deliver_in_order(rx, &mut sink);
    });
}

/// Hands results to `sink` in index order, holding back those that arrive early.
fn deliver_in_order<R>(rx: mpsc::Receiver<(usize, R)>, sink: &mut impl FnMut(usize, R)) {
    let mut waiting = BTreeMap::new();
    let mut expected = 0;
    for (i, result) in rx {
        waiting.insert(i, result);
        while let Some(r) = waiting.remove(&expected) {
            sink(expected, r);
            expected += 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn results_come_in_input_order_whatever_finishes_first() {
        let items: Vec<u64> = (0..40).collect();
        let mut seen = Vec::new();
        // Early items sleep longest, so later ones finish first.
        map_ordered(
            &items,
            4,
            |&i| {
                std::thread::sleep(Duration::from_millis(40 - i));
                i * 10
            },
            |index, r| seen.push((index, r)),
        );
        let expected: Vec<(usize, u64)> = (0..40).map(|i| (i as usize, i * 10)).collect();
        assert_eq!(seen, expected);
    }

    #[test]
    fn several_workers_run_at_once() {
        let items = vec![(); 4];
        let running = AtomicUsize::new(0);
        let peak = AtomicUsize::new(0);
        map_ordered(
            &items,
            4,
            |_| {
                let now = running.fetch_add(1, Ordering::SeqCst) + 1;
                peak.fetch_max(now, Ordering::SeqCst);
                std::thread::sleep(Duration::from_millis(100));
                running.fetch_sub(1, Ordering::SeqCst);
            },
            |_, _| {},
        );
        assert!(peak.load(Ordering::SeqCst) > 1, "only one worker ran at a time");
    }

    #[test]
    fn no_items_and_zero_workers_are_fine() {
        let mut calls = 0;
        map_ordered(&[] as &[u8], 0, |_| 1, |_, _: i32| calls += 1);
        assert_eq!(calls, 0);
        map_ordered(&[1, 2, 3], 0, |x| x * 2, |_, _| calls += 1);
        assert_eq!(calls, 3);
    }
}
