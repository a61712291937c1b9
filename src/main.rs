fn main() -> std::process::ExitCode {
    heap_in_huge_pages();
    wharf::cli::run()
}

/// Backs the heap with transparent huge pages where the kernel offers them on request
/// (`madvise` mode, the common default). Loading a large project touches megabytes of fresh
/// heap, and with 4 KiB pages a third of `config`'s time on 1000 services was page faults
/// (3,400 of them); 2 MiB pages take that to a few. glibc's heap is contiguous, so the pages
/// are filled densely and the resident size barely changes (mimalloc's huge pages, tried
/// first, were as fast but doubled it). The heap grows 32 MiB at a time and is never trimmed,
/// so what was advised stays advised; large blocks still come from `mmap` as before.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn heap_in_huge_pages() {
    const HUGE: usize = 2 << 20;
    const GROW: usize = 32 << 20;
    // SAFETY: mallopt only changes glibc's heap policy; sbrk(0) reads the current break;
    // madvise with MADV_HUGEPAGE is advice over memory this process owns (the range between
    // two breaks is the heap's, mapped by glibc) and changes no contents.
    unsafe {
        if libc::mallopt(libc::M_TOP_PAD, GROW as i32) == 0 || libc::mallopt(libc::M_TRIM_THRESHOLD, i32::MAX) == 0 {
            return;
        }
        let before = libc::sbrk(0) as usize;
        // Blocks below the mmap threshold until one does not fit: glibc then grows the heap
        // by GROW at once.
        let mut probes = [std::ptr::null_mut(); 8];
        for p in probes.iter_mut() {
            *p = libc::malloc(96 << 10);
            if libc::sbrk(0) as usize != before {
                break;
            }
        }
        let after = libc::sbrk(0) as usize;
        for p in probes {
            libc::free(p);
        }
        let start = before.next_multiple_of(HUGE);
        if after > start + HUGE {
            let len = (after - start) / HUGE * HUGE;
            libc::madvise(start as *mut libc::c_void, len, libc::MADV_HUGEPAGE);
        }
    }
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn heap_in_huge_pages() {}
