// forker [N]: calls fork() N times (default 1); each child exits at once. Prints "fork_ok=K" and, when a
// fork fails, "fork_errno=E (message)"; exits 0 if every fork worked, 1 otherwise. Its task name is
// "forker", so a VM scenario can block fork for this process name only. Built statically by mkinitramfs.
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

int main(int argc, char **argv) {
    int n = argc > 1 ? atoi(argv[1]) : 1;
    int ok = 0, failed_errno = 0;
    for (int i = 0; i < n; i++) {
        pid_t pid = fork();
        if (pid == 0) _exit(0);
        if (pid < 0) { failed_errno = errno; continue; }
        int status;
        while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {}
        ok++;
    }
    printf("fork_ok=%d\n", ok);
    if (failed_errno) printf("fork_errno=%d (%s)\n", failed_errno, strerror(failed_errno));
    return ok == n ? 0 : 1;
}
