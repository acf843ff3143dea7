//! A seccomp filter with the effect of Docker's default profile, as a classic BPF program built here
//! (no libseccomp, no profile compiler: the program is a few dozen instructions and builds in
//! microseconds, which matters because crun found profile compilation to dominate its start time).
//!
//! Docker's profile is an allow-list whose complement, on x86-64, is a short list of syscalls that
//! administer the host or escape isolation (module loading, mount and namespace calls, kexec, reboot,
//! the clock, keyrings, ptrace, BPF, perf, userfaultfd, ...), several of them re-allowed when the
//! container holds the matching capability (`mount` with CAP_SYS_ADMIN, `ptrace` with CAP_SYS_PTRACE,
//! ...). This filter denies exactly that list with EPERM, applies the same capability exceptions,
//! refuses `clone` with namespace flags (unless CAP_SYS_ADMIN) and makes `clone3` fail with ENOSYS so
//! libcs fall back to `clone` (both as Docker does), allows only the `personality` values Docker
//! allows, and refuses other ABIs (i386, x32). One difference: a syscall newer than this list is
//! allowed here, while Docker's allow-list would refuse it.

use std::io;

use crate::sys::capability::from_name;

const RET: u16 = 0x06; // BPF_RET | BPF_K
const LD_W_ABS: u16 = 0x20; // BPF_LD | BPF_W | BPF_ABS
const JEQ_K: u16 = 0x15; // BPF_JMP | BPF_JEQ | BPF_K
const JGE_K: u16 = 0x35; // BPF_JMP | BPF_JGE | BPF_K
const JSET_K: u16 = 0x45; // BPF_JMP | BPF_JSET | BPF_K

const ALLOW: u32 = 0x7fff_0000;
const ERRNO: u32 = 0x0005_0000;

#[cfg(target_arch = "x86_64")]
const AUDIT_ARCH: u32 = 0xc000_003e;
#[cfg(target_arch = "aarch64")]
const AUDIT_ARCH: u32 = 0xc000_00b7;

/// Offsets in `struct seccomp_data`.
const NR: u32 = 0;
const ARCH: u32 = 4;
const ARG0_LOW: u32 = 16;

/// The namespace flags `clone` may not use without CAP_SYS_ADMIN.
const CLONE_NAMESPACES: u32 = (libc::CLONE_NEWNS
    | libc::CLONE_NEWUTS
    | libc::CLONE_NEWIPC
    | libc::CLONE_NEWUSER
    | libc::CLONE_NEWPID
    | libc::CLONE_NEWNET
    | libc::CLONE_NEWCGROUP) as u32;

/// A compiled filter.
#[derive(Debug, Clone)]
pub struct Filter {
    program: Vec<libc::sock_filter>,
}

impl Filter {
    /// Number of BPF instructions.
    pub fn len(&self) -> usize {
        self.program.len()
    }

    pub fn is_empty(&self) -> bool {
        self.program.is_empty()
    }
}

fn stmt(code: u16, k: u32) -> libc::sock_filter {
    libc::sock_filter {
        code,
        jt: 0,
        jf: 0,
        k,
    }
}

fn jump(code: u16, k: u32, jt: u8, jf: u8) -> libc::sock_filter {
    libc::sock_filter { code, jt, jf, k }
}

/// Denied syscalls, with the capability that re-allows each (as Docker's profile grants them).
fn denied() -> Vec<(libc::c_long, Option<&'static str>)> {
    let mut list: Vec<(libc::c_long, Option<&'static str>)> = vec![
        (libc::SYS_acct, Some("SYS_PACCT")),
        (libc::SYS_add_key, None),
        (libc::SYS_bpf, Some("BPF")),
        (libc::SYS_clock_adjtime, Some("SYS_TIME")),
        (libc::SYS_clock_settime, Some("SYS_TIME")),
        (libc::SYS_settimeofday, Some("SYS_TIME")),
        (libc::SYS_delete_module, Some("SYS_MODULE")),
        (libc::SYS_finit_module, Some("SYS_MODULE")),
        (libc::SYS_init_module, Some("SYS_MODULE")),
        (libc::SYS_get_mempolicy, Some("SYS_NICE")),
        (libc::SYS_mbind, Some("SYS_NICE")),
        (libc::SYS_set_mempolicy, Some("SYS_NICE")),
        (libc::SYS_move_pages, Some("SYS_NICE")),
        (libc::SYS_kcmp, Some("SYS_PTRACE")),
        (libc::SYS_ptrace, Some("SYS_PTRACE")),
        (libc::SYS_process_vm_readv, Some("SYS_PTRACE")),
        (libc::SYS_process_vm_writev, Some("SYS_PTRACE")),
        (libc::SYS_kexec_file_load, Some("SYS_BOOT")),
        (libc::SYS_kexec_load, Some("SYS_BOOT")),
        (libc::SYS_reboot, Some("SYS_BOOT")),
        (libc::SYS_keyctl, None),
        (libc::SYS_request_key, None),
        (libc::SYS_lookup_dcookie, Some("SYS_ADMIN")),
        (libc::SYS_mount, Some("SYS_ADMIN")),
        (libc::SYS_umount2, Some("SYS_ADMIN")),
        (libc::SYS_pivot_root, Some("SYS_ADMIN")),
        (libc::SYS_setns, Some("SYS_ADMIN")),
        (libc::SYS_unshare, Some("SYS_ADMIN")),
        (libc::SYS_quotactl, Some("SYS_ADMIN")),
        (libc::SYS_name_to_handle_at, Some("SYS_ADMIN")),
        (libc::SYS_open_by_handle_at, Some("DAC_READ_SEARCH")),
        (libc::SYS_fsopen, Some("SYS_ADMIN")),
        (libc::SYS_fsconfig, Some("SYS_ADMIN")),
        (libc::SYS_fsmount, Some("SYS_ADMIN")),
        (libc::SYS_fspick, Some("SYS_ADMIN")),
        (libc::SYS_move_mount, Some("SYS_ADMIN")),
        (libc::SYS_open_tree, Some("SYS_ADMIN")),
        (libc::SYS_mount_setattr, Some("SYS_ADMIN")),
        (libc::SYS_perf_event_open, Some("PERFMON")),
        (libc::SYS_swapon, Some("SYS_ADMIN")),
        (libc::SYS_swapoff, Some("SYS_ADMIN")),
        (libc::SYS_syslog, Some("SYSLOG")),
        (libc::SYS_userfaultfd, None),
        (libc::SYS_io_uring_setup, None),
        (libc::SYS_io_uring_enter, None),
        (libc::SYS_io_uring_register, None),
    ];
    #[cfg(target_arch = "x86_64")]
    list.extend([
        (174, None), // create_module (not in libc)
        (177, None), // get_kernel_syms
        (178, None), // query_module
        (libc::SYS_nfsservctl, None),
        (libc::SYS_ioperm, Some("SYS_RAWIO")),
        (libc::SYS_iopl, Some("SYS_RAWIO")),
        (libc::SYS_sysfs, None),
        (libc::SYS__sysctl, None),
        (libc::SYS_uselib, None),
        (libc::SYS_ustat, None),
        (libc::SYS_vhangup, Some("SYS_TTY_CONFIG")),
    ]);
    list
}

/// Builds the filter for a container holding `capabilities` (a bit mask).
pub fn default_filter_for(capabilities: u64) -> Filter {
    let has = |name: &str| from_name(name).is_some_and(|cap| capabilities & (1 << cap) != 0);
    let deny = ERRNO | libc::EPERM as u32;
    let mut program = vec![
        stmt(LD_W_ABS, ARCH),
        jump(JEQ_K, AUDIT_ARCH, 1, 0),
        stmt(RET, deny),
        stmt(LD_W_ABS, NR),
        // x32 syscall numbers have bit 30 set.
        jump(JGE_K, 0x4000_0000, 0, 1),
        stmt(RET, deny),
    ];
    for (nr, cap) in denied() {
        if cap.is_some_and(has) {
            continue;
        }
        program.push(jump(JEQ_K, nr as u32, 0, 1));
        program.push(stmt(RET, deny));
    }
    program.push(jump(JEQ_K, libc::SYS_clone3 as u32, 0, 1));
    program.push(stmt(RET, ERRNO | libc::ENOSYS as u32));
    if !has("SYS_ADMIN") {
        // clone(flags, ...): flags is the first argument on x86-64 and arm64.
        program.push(jump(JEQ_K, libc::SYS_clone as u32, 0, 3));
        program.push(stmt(LD_W_ABS, ARG0_LOW));
        program.push(jump(JSET_K, CLONE_NAMESPACES, 0, 1));
        program.push(stmt(RET, deny));
        program.push(stmt(LD_W_ABS, NR));
    }
    // personality: only the values Docker allows (PER_LINUX, UNAME26, PER_LINUX32, query).
    let allowed_personalities = [0x0, 0x8, 0x20000, 0x20008, 0xffff_ffff];
    let n = allowed_personalities.len() as u8;
    program.push(jump(JEQ_K, libc::SYS_personality as u32, 0, n + 2));
    program.push(stmt(LD_W_ABS, ARG0_LOW));
    for (i, value) in allowed_personalities.iter().enumerate() {
        program.push(jump(JEQ_K, *value, n - i as u8, 0));
    }
    program.push(stmt(RET, deny));
    program.push(stmt(RET, ALLOW));
    Filter { program }
}

/// The filter for the default capability set.
pub fn default_filter() -> Filter {
    default_filter_for(0)
}

/// Installs `filter` on this thread (inherited by children and kept across execve). Needs
/// `no_new_privs` or CAP_SYS_ADMIN.
pub fn install(filter: &Filter) -> io::Result<()> {
    let program = libc::sock_fprog {
        len: filter.program.len() as u16,
        filter: filter.program.as_ptr() as *mut libc::sock_filter,
    };
    // SAFETY: program points at `len` valid instructions that outlive the call; the kernel copies them.
    let rc = unsafe {
        libc::prctl(
            libc::PR_SET_SECCOMP,
            libc::SECCOMP_MODE_FILTER as libc::c_ulong,
            &program as *const libc::sock_fprog as libc::c_ulong,
            0,
            0,
        )
    };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn capabilities_shorten_the_filter() {
        let plain = default_filter_for(0);
        let admin = default_filter_for(1 << from_name("SYS_ADMIN").unwrap());
        assert!(admin.len() < plain.len());
        assert!(plain.len() < 200, "{}", plain.len());
    }
}
