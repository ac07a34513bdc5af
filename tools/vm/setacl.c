/* setacl PATH MODE: sets the POSIX access ACL u::MODE[0],g::MODE[1],o::MODE[2] (octal digits, e.g.
 * 755) through setxattr("system.posix_acl_access"), the route setfacl takes; this changes the
 * file's mode bits without chmod. Prints the error and exits 1 on failure. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/xattr.h>

struct entry { uint16_t tag, perm; uint32_t id; };

int main(int argc, char **argv)
{
    if (argc != 3 || strlen(argv[2]) != 3) {
        fprintf(stderr, "usage: setacl PATH MODE (e.g. 755)\n");
        return 2;
    }
    struct { uint32_t version; struct entry e[3]; } acl = { 2, {
        { 0x01, (uint16_t)(argv[2][0] - '0'), 0xffffffffu },  /* ACL_USER_OBJ */
        { 0x04, (uint16_t)(argv[2][1] - '0'), 0xffffffffu },  /* ACL_GROUP_OBJ */
        { 0x20, (uint16_t)(argv[2][2] - '0'), 0xffffffffu },  /* ACL_OTHER */
    } };
    if (setxattr(argv[1], "system.posix_acl_access", &acl, sizeof(acl), 0) != 0) {
        perror("setacl");
        return 1;
    }
    return 0;
}
