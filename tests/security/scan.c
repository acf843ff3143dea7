/* The /proc scanner of tests/security.rs: run as root inside a container, it walks /proc over and
 * over for `seconds` seconds and, for every other process, tries to reach the host through
 * /proc/<pid>/cwd, /proc/<pid>/root and each /proc/<pid>/fd/<n> (reading `climb`, a path that
 * climbs from any host directory to the host's marker file), and to open /proc/<pid>/exe when it is
 * not a binary of the container's. It prints "LEAK <path>" for a marker read, "EXE <pid> <target>"
 * for a foreign binary it could open, and at the end how many processes it saw whose exe it could
 * not even read (the runtime's helpers, undumpable): proof that it looked while they existed.
 *
 * Usage: scan <seconds> <climb> <secret> */
#define _GNU_SOURCE
#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static const char *climb, *secret;
static long leaks, exes;

static void try_dir(const char *dir) {
    char path[8192], buffer[256];
    snprintf(path, sizeof path, "%s/%s", dir, climb);
    int fd = open(path, O_RDONLY);
    if (fd < 0) return;
    ssize_t n = read(fd, buffer, sizeof buffer - 1);
    close(fd);
    if (n > 0) {
        buffer[n] = 0;
        if (strstr(buffer, secret)) {
            printf("LEAK %s\n", dir);
            leaks++;
        }
    }
}

int main(int argc, char **argv) {
    if (argc != 4) return 2;
    int seconds = atoi(argv[1]);
    climb = argv[2];
    secret = argv[3];
    pid_t self = getpid();
    long seen = 0, rounds = 0;
    time_t end = time(NULL) + seconds;
    while (time(NULL) < end) {
        rounds++;
        DIR *proc = opendir("/proc");
        if (!proc) return 3;
        struct dirent *entry;
        while ((entry = readdir(proc))) {
            int pid = atoi(entry->d_name);
            if (pid <= 0 || pid == self) continue;
            char base[64], path[320], target[4096];
            snprintf(base, sizeof base, "/proc/%d", pid);
            snprintf(path, sizeof path, "%s/exe", base);
            ssize_t len = readlink(path, target, sizeof target - 1);
            if (len < 0) {
                struct stat st;
                /* The entry is there, but its exe cannot be read: an undumpable process. */
                if (lstat(path, &st) == 0) seen++;
            } else {
                target[len] = 0;
                if (strncmp(target, "/bin/", 5) != 0) {
                    int fd = open(path, O_RDONLY);
                    if (fd >= 0) {
                        printf("EXE %d %s\n", pid, target);
                        exes++;
                        close(fd);
                    }
                }
            }
            snprintf(path, sizeof path, "%s/cwd", base);
            try_dir(path);
            snprintf(path, sizeof path, "%s/root", base);
            try_dir(path);
            snprintf(path, sizeof path, "%s/fd", base);
            DIR *fds = opendir(path);
            if (!fds) continue;
            struct dirent *fd;
            while ((fd = readdir(fds))) {
                if (fd->d_name[0] == '.') continue;
                char fdpath[640];
                snprintf(fdpath, sizeof fdpath, "%s/%s", path, fd->d_name);
                try_dir(fdpath);
            }
            closedir(fds);
        }
        closedir(proc);
    }
    printf("rounds: %ld, helpers seen: %ld, leaks: %ld, foreign binaries: %ld\n", rounds, seen, leaks,
           exes);
    fflush(stdout);
    return leaks || exes ? 1 : 0;
}
