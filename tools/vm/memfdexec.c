/* memfdexec SRC ARG0 [ARGS...]: copies SRC into a memfd named "payload" and runs it with fexecve
 * (a fileless exec: no path names the program). Prints the error and exits 1 on failure. */
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdio.h>
#include <sys/mman.h>
#include <unistd.h>

extern char **environ;

int main(int argc, char **argv)
{
    if (argc < 3) {
        fprintf(stderr, "usage: memfdexec SRC ARG0 [ARGS...]\n");
        return 2;
    }
    int in = open(argv[1], O_RDONLY);
    int fd = memfd_create("payload", MFD_CLOEXEC);
    if (in < 0 || fd < 0) {
        perror("memfdexec: open/memfd_create");
        return 1;
    }
    char buf[65536];
    ssize_t n;
    while ((n = read(in, buf, sizeof buf)) > 0)
        if (write(fd, buf, n) != n) {
            perror("memfdexec: write");
            return 1;
        }
    fexecve(fd, argv + 2, environ);
    perror("memfdexec: fexecve");
    return 1;
}
