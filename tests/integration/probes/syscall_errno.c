/* syscall_errno NR [ARG...]: make raw syscall NR with integer args and print
 * "ok" or the errno's name-free text, so a test can tell a seccomp answer
 * (e.g. ENOSYS from a profile's default) from the kernel's own. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int main(int argc, char **argv)
{
    long args[6] = {0};
    if (argc < 2)
        return 2;
    for (int i = 2; i < argc && i < 8; i++)
        args[i - 2] = strtol(argv[i], NULL, 0);
    long result = syscall(strtol(argv[1], NULL, 0), args[0], args[1], args[2], args[3], args[4], args[5]);
    if (result < 0)
        printf("errno %d %s\n", errno, strerror(errno));
    else
        printf("ok\n");
    return 0;
}
