/* trunclater EXE: an O_TRUNC open that is decided and then fails, followed by a real truncate(2) of the
 * same file by the same task on the same CPU. EXE must be a copy of this program: a child runs it
 * (`EXE --sleep`), so open(EXE, O_RDONLY|O_TRUNC) passes the LSM's file_open and then fails with ETXTBSY in
 * the kernel's handle_truncate; the child is killed and truncate(EXE, 0) follows. Before 6.2 the agent
 * remembers an O_TRUNC open that file_open decided, to skip the path_truncate that comes next; this must not
 * spare the later, separate truncate. Prints later_open_errno=<name|0> and later_truncate_rc=<0|errno name>. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static const char *errname(int e)
{
    switch (e) {
    case 0: return "0";
    case ETXTBSY: return "ETXTBSY";
    case EPERM: return "EPERM";
    case EACCES: return "EACCES";
    default: return strerror(e);
    }
}

/* The child has exec'd EXE once /proc/PID/exe names it. */
static int running(pid_t pid, const char *exe)
{
    char link[64], target[PATH_MAX];
    snprintf(link, sizeof link, "/proc/%d/exe", (int)pid);
    ssize_t n = readlink(link, target, sizeof target - 1);
    if (n < 0)
        return 0;
    target[n] = 0;
    return strcmp(target, exe) == 0;
}

int main(int argc, char **argv)
{
    if (argc == 2 && strcmp(argv[1], "--sleep") == 0) {
        sleep(60);
        return 0;
    }
    if (argc != 2) {
        fprintf(stderr, "usage: trunclater EXE (a copy of trunclater)\n");
        return 2;
    }
    const char *exe = argv[1];
    /* One CPU: the agent's mark is per CPU, so this is the case where it could match. */
    cpu_set_t one;
    CPU_ZERO(&one);
    CPU_SET(0, &one);
    sched_setaffinity(0, sizeof one, &one);
    pid_t child = fork();
    if (child < 0) {
        perror("trunclater: fork");
        return 1;
    }
    if (child == 0) {
        execl(exe, exe, "--sleep", (char *)NULL);
        _exit(127);
    }
    for (int i = 0; i < 1000 && !running(child, exe); i++) {
        struct timespec ms10 = { 0, 10 * 1000 * 1000 };
        nanosleep(&ms10, NULL);
    }
    if (!running(child, exe)) {
        fprintf(stderr, "trunclater: %s did not start\n", exe);
        kill(child, SIGKILL);
        return 1;
    }
    int fd = open(exe, O_RDONLY | O_TRUNC);
    int open_errno = fd < 0 ? errno : 0;
    if (fd >= 0)
        close(fd);
    kill(child, SIGKILL);
    waitpid(child, NULL, 0);
    int rc = truncate(exe, 0);
    printf("later_open_errno=%s\nlater_truncate_rc=%s\n", errname(open_errno), rc == 0 ? "0" : errname(errno));
    return rc == 0 ? 0 : 1;
}
