/* The confinement probe of tests/security.rs: run as root inside a container made with docker's
 * defaults, it tries what a container must not do and prints one line per check, "ok <name>" or
 * "FAIL <name>: <what happened>". Built static, so it needs nothing from the container's image. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/bpf.h>
#include <linux/keyctl.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/ptrace.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static int failures;

static void expect_refused(const char *name, long rc) {
    if (rc < 0)
        printf("ok %s (%s)\n", name, strerror(errno));
    else {
        printf("FAIL %s: allowed\n", name);
        failures++;
    }
}

static void expect_line(const char *file, const char *prefix, const char *want) {
    FILE *f = fopen(file, "r");
    char line[512];
    size_t n = strlen(prefix);
    if (!f) {
        printf("FAIL %s: cannot open %s\n", prefix, file);
        failures++;
        return;
    }
    while (fgets(line, sizeof line, f)) {
        if (strncmp(line, prefix, n) == 0) {
            char *value = line + n;
            while (*value == ' ' || *value == '\t') value++;
            value[strcspn(value, "\n")] = 0;
            if (strcmp(value, want) == 0)
                printf("ok %s %s\n", prefix, value);
            else {
                printf("FAIL %s: %s, want %s\n", prefix, value, want);
                failures++;
            }
            fclose(f);
            return;
        }
    }
    fclose(f);
    printf("FAIL %s: not in %s\n", prefix, file);
    failures++;
}

static void expect_not_writable(const char *path) {
    int fd = open(path, O_WRONLY);
    char name[256];
    snprintf(name, sizeof name, "write %s", path);
    if (fd >= 0) {
        /* Opening may succeed on a masked path bound to /dev/null: writing there is harmless, but a
         * real file must not open for writing. */
        struct stat st;
        fstat(fd, &st);
        if (S_ISCHR(st.st_mode) && major(st.st_rdev) == 1 && minor(st.st_rdev) == 3) {
            printf("ok %s (masked by /dev/null)\n", name);
        } else {
            printf("FAIL %s: opened for writing\n", name);
            failures++;
        }
        close(fd);
        return;
    }
    printf("ok %s (%s)\n", name, strerror(errno));
}

static void expect_empty_or_absent(const char *path) {
    char buffer[64];
    int fd = open(path, O_RDONLY);
    if (fd < 0) {
        printf("ok read %s (%s)\n", path, strerror(errno));
        return;
    }
    ssize_t n = read(fd, buffer, sizeof buffer);
    close(fd);
    if (n <= 0)
        printf("ok read %s (empty)\n", path);
    else {
        printf("FAIL read %s: %zd bytes\n", path, n);
        failures++;
    }
}

int main(void) {
    expect_line("/proc/self/status", "CapBnd:", "00000000a80425fb");
    expect_line("/proc/self/status", "CapEff:", "00000000a80425fb");
    expect_line("/proc/self/status", "Seccomp:", "2");
    expect_line("/proc/self/status", "NoNewPrivs:", "0");
    /* runc's CVE-2022-29162: nothing inheritable, nothing ambient. */
    expect_line("/proc/self/status", "CapInh:", "0000000000000000");
    expect_line("/proc/self/status", "CapAmb:", "0000000000000000");

    expect_refused("mount tmpfs", mount("tmpfs", "/mnt", "tmpfs", 0, NULL));
    expect_refused("mount proc", mount("proc", "/tmp", "proc", 0, NULL));
    expect_refused("unshare mount", unshare(CLONE_NEWNS));
    expect_refused("unshare user", unshare(CLONE_NEWUSER));
    expect_refused("unshare cgroup", unshare(CLONE_NEWCGROUP));
    expect_refused("setns", syscall(SYS_setns, open("/proc/1/ns/mnt", O_RDONLY), 0));
    expect_refused("keyctl join", syscall(SYS_keyctl, KEYCTL_JOIN_SESSION_KEYRING, "probe"));
    expect_refused("add_key", syscall(SYS_add_key, "user", "probe", "x", 1, KEY_SPEC_SESSION_KEYRING));
    union bpf_attr attr;
    memset(&attr, 0, sizeof attr);
    attr.map_type = BPF_MAP_TYPE_ARRAY;
    attr.key_size = 4;
    attr.value_size = 4;
    attr.max_entries = 1;
    expect_refused("bpf", syscall(SYS_bpf, BPF_MAP_CREATE, &attr, sizeof attr));
    char params[120];
    memset(params, 0, sizeof params);
    expect_refused("io_uring_setup", syscall(SYS_io_uring_setup, 4, params));
    expect_refused("ptrace traceme", ptrace(PTRACE_TRACEME, 0, 0, 0));
    expect_refused("perf_event_open", syscall(SYS_perf_event_open, params, 0, -1, -1, 0));
    expect_refused("kexec_load", syscall(SYS_kexec_load, 0, 0, 0, 0));
    expect_refused("init_module", syscall(SYS_init_module, "", 0, ""));
    expect_refused("swapon", syscall(SYS_swapon, "/dev/null", 0));
    /* LINUX_REBOOT_CMD_CAD_OFF: harmless even if it were allowed. */
    expect_refused("reboot", syscall(SYS_reboot, 0xfee1dead, 672274793, 0, 0));
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    expect_refused("clock_settime", syscall(SYS_clock_settime, CLOCK_REALTIME, &now));
    expect_refused("pivot_root", syscall(SYS_pivot_root, "/", "/"));
    expect_refused("fsopen", syscall(SYS_fsopen, "tmpfs", 0));
    expect_refused("open_tree clone", syscall(SYS_open_tree, AT_FDCWD, "/", 1));
    expect_refused("userfaultfd", syscall(SYS_userfaultfd, 0));
    /* Shocker (2014): open_by_handle_at with a guessed handle of the host's root. */
    struct {
        unsigned int handle_bytes;
        int handle_type;
        unsigned char f_handle[8];
    } handle = {8, 1, {2, 0, 0, 0, 0, 0, 0, 0}};
    expect_refused("open_by_handle_at", syscall(SYS_open_by_handle_at, AT_FDCWD, &handle, O_RDONLY));
    expect_refused("name_to_handle_at", syscall(SYS_name_to_handle_at, AT_FDCWD, "/", &handle, &(int){0}, 0));

    /* Devices: a node for the host's first disk can be made or not, but never opened. */
    unlink("/tmp/probe-sda");
    long made = mknod("/tmp/probe-sda", S_IFBLK | 0600, makedev(8, 0));
    int disk = made == 0 ? open("/tmp/probe-sda", O_RDONLY) : -1;
    if (disk < 0)
        printf("ok block device 8:0 (%s)\n", made == 0 ? "open refused" : "mknod refused");
    else {
        printf("FAIL block device 8:0: opened\n");
        failures++;
        close(disk);
    }
    unlink("/tmp/probe-sda");
    unlink("/tmp/probe-mem");
    made = mknod("/tmp/probe-mem", S_IFCHR | 0600, makedev(1, 1));
    int mem = made == 0 ? open("/tmp/probe-mem", O_RDONLY) : -1;
    if (mem < 0)
        printf("ok char device /dev/mem 1:1 (%s)\n", made == 0 ? "open refused" : "mknod refused");
    else {
        printf("FAIL char device 1:1: opened\n");
        failures++;
        close(mem);
    }
    unlink("/tmp/probe-mem");

    /* Masked and read-only paths of /proc and /sys. */
    expect_empty_or_absent("/proc/kcore");
    expect_empty_or_absent("/proc/keys");
    expect_empty_or_absent("/proc/timer_list");
    expect_empty_or_absent("/sys/firmware/efi/efivars/x");
    expect_not_writable("/proc/sys/kernel/core_pattern");
    expect_not_writable("/proc/sys/vm/drop_caches");
    expect_not_writable("/proc/sysrq-trigger");
    expect_not_writable("/proc/irq/default_smp_affinity");
    expect_not_writable("/sys/kernel/uevent_helper");
    expect_not_writable("/sys/fs/cgroup/cgroup.procs");
    expect_not_writable("/proc/sys/kernel/modprobe");
    expect_refused("mkdir in /sys", mkdir("/sys/probe", 0755));

    printf("probes done: %d failures\n", failures);
    return failures ? 1 : 0;
}
