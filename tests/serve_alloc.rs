//! The server path allocates nothing per datagram (issue 15: "no allocation"): a global
//! allocator that counts the allocations of the thread that asks it to, around the
//! engine answering thousands of clients with the monitor on (new entries, updates and
//! recycling of the oldest), and around the batched socket reads and writes.
//!
//! This file is its own test binary so that the counting allocator (necessarily a
//! `static`) serves nothing else.

#[path = "../fuzz/src/harness.rs"]
#[allow(dead_code)]
mod harness;

use ntp6::engine::Datagram;
use ntp6::net::udp::{self, Inbox, Outbox};
use ntp6::restrict::{AccessControl, Monitor, RestrictList, DEFAULT_CAPACITY};
use ntp6::time::NtpTimestamp;
use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::net::{SocketAddr, UdpSocket};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

struct Counting;

static ALLOCATIONS: AtomicUsize = AtomicUsize::new(0);

thread_local! {
    /// Whether this thread's allocations are counted (const-initialised: reading it
    /// allocates nothing).
    static COUNTING: Cell<bool> = const { Cell::new(false) };
}

fn note_allocation() {
    if COUNTING.with(Cell::get) {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
    }
}

// SAFETY: every call is passed on to the system allocator unchanged.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        note_allocation();
        System.alloc(layout)
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        note_allocation();
        System.alloc_zeroed(layout)
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        note_allocation();
        System.realloc(ptr, layout, new_size)
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        System.dealloc(ptr, layout)
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

/// How many allocations `work` made on this thread.
fn allocations_in(work: impl FnOnce()) -> usize {
    let before = ALLOCATIONS.load(Ordering::Relaxed);
    COUNTING.with(|c| c.set(true));
    work();
    COUNTING.with(|c| c.set(false));
    ALLOCATIONS.load(Ordering::Relaxed) - before
}

fn request() -> [u8; 48] {
    let mut bytes = [0u8; 48];
    bytes[0] = 0x23; // version 4, mode 3
    bytes[40..48].copy_from_slice(&0xeeab_8600_1234_5678u64.to_be_bytes());
    bytes
}

#[test]
fn answering_clients_allocates_nothing() {
    let (_, mut engine) = harness::engine_with(RestrictList::new(), |settings| {
        settings.access = AccessControl::new(RestrictList::new(), Monitor::new(DEFAULT_CAPACITY));
    });
    let request = request();
    let received = Some(NtpTimestamp::from_unix(1_700_000_000, 0));
    let mut answers = 0;
    // Three times the monitor's capacity of distinct clients, each asking twice: entries
    // are created, updated and recycled.
    let clients = 3 * DEFAULT_CAPACITY as u32;
    let allocations = allocations_in(|| {
        for round in 0..2 {
            for n in 0..clients {
                let dgram = Datagram {
                    bytes: &request,
                    source: SocketAddr::from(([10, 0, (n >> 8) as u8, n as u8], 40000 + round)),
                    local: None,
                    received,
                };
                engine.handle_datagram(&dgram, &mut |_| answers += 1);
            }
        }
    });
    assert_eq!(answers, 2 * clients);
    assert_eq!(
        allocations, 0,
        "allocations while answering {answers} requests"
    );
    assert_eq!(engine.access().monitor().len(), DEFAULT_CAPACITY);
}

#[test]
fn batched_socket_reads_and_writes_allocate_nothing() {
    let server = udp::bind("127.0.0.1:0".parse().unwrap()).unwrap();
    let client = UdpSocket::bind("127.0.0.1:0").unwrap();
    client
        .set_read_timeout(Some(Duration::from_secs(1)))
        .unwrap();
    let (mut inbox, mut outbox) = (Inbox::new(), Outbox::new());
    let request = request();
    for _ in 0..udp::BATCH {
        client
            .send_to(&request, server.local_addr().unwrap())
            .unwrap();
    }
    // Loopback delivery may finish in a softirq just after send_to returns.
    std::thread::sleep(Duration::from_millis(50));
    let mut answered = 0;
    let allocations = allocations_in(|| {
        let count = inbox.recv(&server).unwrap();
        for i in 0..count {
            if let Some(got) = inbox.get(i) {
                outbox.push(&server, &got.peer, got.bytes);
                answered += 1;
            }
        }
        outbox.flush(&server);
    });
    assert_eq!(answered, udp::BATCH);
    assert_eq!(allocations, 0);
    let mut buf = [0u8; 64];
    for _ in 0..answered {
        assert_eq!(client.recv(&mut buf).unwrap(), request.len());
    }
}
