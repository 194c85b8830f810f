/* Syscall storm for bench/guard.sh: N iterations of getppid + openat(path) + close.
 * Prints the syscalls per second it achieved. Usage: guard_loop N PATH */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

int main(int argc, char **argv) {
    long n = argc > 1 ? atol(argv[1]) : 1000000;
    const char *path = argc > 2 ? argv[2] : "/tmp/kestrel-guard-loop";
    struct timespec a, b;
    clock_gettime(CLOCK_MONOTONIC, &a);
    for (long i = 0; i < n; i++) {
        getppid();
        int fd = openat(AT_FDCWD, path, O_RDONLY);
        if (fd >= 0) close(fd);
    }
    clock_gettime(CLOCK_MONOTONIC, &b);
    double s = (b.tv_sec - a.tv_sec) + (b.tv_nsec - a.tv_nsec) / 1e9;
    printf("%.0f syscalls/s (%ld iterations, %.3f s)\n", 3.0 * n / s, n, s);
    return 0;
}
