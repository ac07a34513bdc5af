/* deepmk ROOT NAME COUNT SRC FILE: from ROOT, creates and enters COUNT nested directories NAME (one
 * relative step at a time, so the path may exceed PATH_MAX), then copies SRC there as FILE with mode
 * 0755. Exit status: 0, or 1 with the failing step on stderr. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int main(int argc, char **argv)
{
    if (argc != 6) {
        fprintf(stderr, "usage: deepmk ROOT NAME COUNT SRC FILE\n");
        return 2;
    }
    int in = open(argv[4], O_RDONLY);
    if (in < 0 || chdir(argv[1]) != 0) {
        perror("deepmk: open/chdir");
        return 1;
    }
    int count = atoi(argv[3]);
    for (int i = 0; i < count; i++) {
        if (mkdir(argv[2], 0755) != 0 && errno != EEXIST) {
            fprintf(stderr, "deepmk: mkdir at depth %d: %s\n", i, strerror(errno));
            return 1;
        }
        if (chdir(argv[2]) != 0) {
            fprintf(stderr, "deepmk: chdir at depth %d: %s\n", i, strerror(errno));
            return 1;
        }
    }
    int out = open(argv[5], O_WRONLY | O_CREAT | O_TRUNC, 0755);
    if (out < 0) {
        fprintf(stderr, "deepmk: create %s: %s\n", argv[5], strerror(errno));
        return 1;
    }
    char buf[65536];
    ssize_t n;
    while ((n = read(in, buf, sizeof buf)) > 0)
        if (write(out, buf, n) != n) {
            perror("deepmk: write");
            return 1;
        }
    return close(out) == 0 ? 0 : 1;
}
