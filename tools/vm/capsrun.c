// capsrun UID CAP[,CAP...] PROG [ARGS...]: runs PROG as user and group UID, without supplementary
// groups, holding exactly the named capabilities (effective, permitted, inheritable and ambient, so
// that they survive the exec of an ordinary binary). Names: bpf perfmon sys_admin sys_ptrace
// dac_read_search sys_resource. Used by the VM scenarios to run the agent without uid 0.
#define _GNU_SOURCE
#include <grp.h>
#include <linux/capability.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

static const struct { const char *name; int cap; } known[] = {
    {"bpf", 39}, {"perfmon", 38}, {"sys_admin", 21}, {"sys_ptrace", 19}, {"dac_read_search", 2}, {"sys_resource", 24},
};

int main(int argc, char **argv)
{
    if (argc < 4) {
        fprintf(stderr, "usage: capsrun UID CAP[,CAP...] PROG [ARGS...]\n");
        return 2;
    }
    uid_t uid = (uid_t)strtoul(argv[1], NULL, 10);
    unsigned long long mask = 0;
    int caps[16], n = 0;
    char *list = strdup(argv[2]);
    for (char *tok = strtok(list, ","); tok; tok = strtok(NULL, ",")) {
        int found = -1;
        for (size_t i = 0; i < sizeof(known) / sizeof(known[0]); i++)
            if (strcmp(tok, known[i].name) == 0)
                found = known[i].cap;
        if (found < 0 || n == 16) {
            fprintf(stderr, "capsrun: unknown capability '%s'\n", tok);
            return 2;
        }
        caps[n++] = found;
        mask |= 1ULL << found;
    }
    if (prctl(PR_SET_KEEPCAPS, 1, 0, 0, 0) || setgroups(0, NULL) || setresgid(uid, uid, uid) || setresuid(uid, uid, uid)) {
        perror("capsrun: dropping to the user");
        return 1;
    }
    struct __user_cap_header_struct hdr = {_LINUX_CAPABILITY_VERSION_3, 0};
    struct __user_cap_data_struct data[2] = {{0}};
    for (int i = 0; i < 2; i++) {
        unsigned int word = (unsigned int)(mask >> (32 * i));
        data[i].effective = data[i].permitted = data[i].inheritable = word;
    }
    if (syscall(SYS_capset, &hdr, data)) {
        perror("capsrun: capset");
        return 1;
    }
    for (int i = 0; i < n; i++)
        if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_RAISE, caps[i], 0, 0)) {
            perror("capsrun: ambient");
            return 1;
        }
    execv(argv[3], argv + 3);
    perror("capsrun: exec");
    return 127;
}
