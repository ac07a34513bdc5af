// ptyrun CMD [ARGS...]: runs CMD as the leader of a new session whose controlling terminal is a fresh
// pseudo-terminal (/dev/pts/N), copying everything CMD writes to the terminal to our stdout, and exits
// with CMD's status. Used in the VM to get a real interactive session (busybox-static has no `script`).
// Built statically for the guest by tools/vm/mkinitramfs.
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/ioctl.h>
#include <sys/wait.h>
#include <unistd.h>

int main(int argc, char **argv) {
    if (argc < 2) { fprintf(stderr, "usage: ptyrun CMD [ARGS...]\n"); return 2; }
    int master = posix_openpt(O_RDWR | O_NOCTTY);
    if (master < 0 || grantpt(master) != 0 || unlockpt(master) != 0) { perror("ptyrun: posix_openpt"); return 125; }
    const char *slave_name = ptsname(master);
    if (!slave_name) { perror("ptyrun: ptsname"); return 125; }
    pid_t child = fork();
    if (child < 0) { perror("ptyrun: fork"); return 125; }
    if (child == 0) {
        close(master);
        if (setsid() < 0) { perror("ptyrun: setsid"); _exit(125); }
        int slave = open(slave_name, O_RDWR);  // first tty opened by a session leader becomes its ctty
        if (slave < 0) { perror("ptyrun: open slave"); _exit(125); }
        if (ioctl(slave, TIOCSCTTY, 0) < 0) { perror("ptyrun: TIOCSCTTY"); _exit(125); }
        dup2(slave, 0); dup2(slave, 1); dup2(slave, 2);
        if (slave > 2) close(slave);
        execvp(argv[1], argv + 1);
        perror("ptyrun: exec");
        _exit(127);
    }
    // Relay the terminal's output until the slave side is closed by every process (EIO on Linux).
    char buf[4096];
    for (;;) {
        ssize_t n = read(master, buf, sizeof buf);
        if (n > 0) { if (write(1, buf, (size_t)n) < 0) break; continue; }
        if (n < 0 && errno == EINTR) continue;
        break;
    }
    int status = 0;
    while (waitpid(child, &status, 0) < 0 && errno == EINTR) {}
    if (WIFEXITED(status)) return WEXITSTATUS(status);
    if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
    return 125;
}
