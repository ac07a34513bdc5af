/* exchange A B: renameat2(A, B, RENAME_EXCHANGE); prints the error and exits 1 on failure. */
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdio.h>
#include <sys/syscall.h>
#include <unistd.h>

int main(int argc, char **argv)
{
    if (argc != 3) {
        fprintf(stderr, "usage: exchange A B\n");
        return 2;
    }
    if (syscall(SYS_renameat2, AT_FDCWD, argv[1], AT_FDCWD, argv[2], 2 /* RENAME_EXCHANGE */) != 0) {
        perror("exchange");
        return 1;
    }
    return 0;
}
