// loopbench file N PATH  : N x open(PATH, O_WRONLY|O_CREAT|O_TRUNC) + write 64 bytes + close
// loopbench exec N PROG  : N x posix_spawn(PROG) + waitpid (PROG gets no arguments, stdout /dev/null)
// Prints "ns_per_op=<mean elapsed ns per iteration>" (CLOCK_MONOTONIC) and "cpu_ns_per_op=<mean CPU ns>"
// (user+system of this process and its children, from getrusage: includes the kernel's BPF hooks, which run
// in the workload's context, but not the agent's own work). Used by tools/bench-vm in the guest.
#define _GNU_SOURCE
#include <fcntl.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

static long long now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static long long cpu_ns(void) {
    struct rusage self, kids;
    getrusage(RUSAGE_SELF, &self);
    getrusage(RUSAGE_CHILDREN, &kids);
    long long us = 0;
    struct timeval *tv[] = {&self.ru_utime, &self.ru_stime, &kids.ru_utime, &kids.ru_stime};
    for (int i = 0; i < 4; i++) us += (long long)tv[i]->tv_sec * 1000000LL + tv[i]->tv_usec;
    return us * 1000LL;
}

int main(int argc, char **argv) {
    if (argc != 4) { fprintf(stderr, "usage: loopbench file|exec N PATH\n"); return 2; }
    long n = atol(argv[2]);
    const char *path = argv[3];
    if (n <= 0) { fprintf(stderr, "loopbench: N must be positive\n"); return 2; }
    char data[64];
    memset(data, 'x', sizeof data);
    long long start = now_ns(), cpu_start = cpu_ns();
    if (strcmp(argv[1], "file") == 0) {
        for (long i = 0; i < n; i++) {
            int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
            if (fd < 0) { perror("loopbench: open"); return 1; }
            if (write(fd, data, sizeof data) != (ssize_t)sizeof data) { perror("loopbench: write"); return 1; }
            close(fd);
        }
    } else if (strcmp(argv[1], "exec") == 0) {
        posix_spawn_file_actions_t fa;
        posix_spawn_file_actions_init(&fa);
        posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
        char *child_argv[] = {(char *)path, NULL};
        for (long i = 0; i < n; i++) {
            pid_t pid;
            int err = posix_spawn(&pid, path, &fa, NULL, child_argv, environ);
            if (err) { fprintf(stderr, "loopbench: posix_spawn %s: %s\n", path, strerror(err)); return 1; }
            int status;
            if (waitpid(pid, &status, 0) < 0 || !WIFEXITED(status) || WEXITSTATUS(status) != 0) {
                fprintf(stderr, "loopbench: %s failed\n", path); return 1;
            }
        }
    } else {
        fprintf(stderr, "loopbench: unknown mode %s\n", argv[1]); return 2;
    }
    long long elapsed = now_ns() - start, cpu = cpu_ns() - cpu_start;
    printf("ns_per_op=%lld cpu_ns_per_op=%lld\n", elapsed / n, cpu / n);
    return 0;
}
