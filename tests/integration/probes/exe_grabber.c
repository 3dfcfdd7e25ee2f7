/* exe_grabber SECONDS: the CVE-2019-5736 attack, short of its last step.
 * For SECONDS it opens (O_PATH) /proc/<pid>/exe of every process it can
 * see and keeps each distinct executable it gets; then, when the processes
 * that ran them may be gone, it tries each one for writing and prints
 *     exe PID DEV:INO nlink=N seals=S ro=R write=E memwrite=W
 * S: F_GET_SEALS (-1: not a memfd); R: 1 on a read-only mount; E: errno of
 * opening it for writing (0: it opened, then closed at once); W: errno of
 * writing one byte, tried on a memfd alone (never on a file of a disk),
 * -1 when not tried.  Then "done". */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <time.h>
#include <unistd.h>

#define MAX_SEEN 256

static struct grabbed { int fd; char pid[256]; struct stat st; } seen[MAX_SEEN];
static int nseen;

static void grab(const char *pid)
{
    char path[300];
    struct stat st;
    int fd;

    snprintf(path, sizeof(path), "/proc/%s/exe", pid);
    fd = open(path, O_PATH | O_CLOEXEC);
    if (fd < 0)
        return;
    if (fstat(fd, &st) < 0 || nseen == MAX_SEEN) {
        close(fd);
        return;
    }
    for (int i = 0; i < nseen; i++)
        if (seen[i].st.st_dev == st.st_dev && seen[i].st.st_ino == st.st_ino) {
            close(fd);
            return;
        }
    seen[nseen].fd = fd;
    seen[nseen].st = st;
    snprintf(seen[nseen].pid, sizeof(seen[nseen].pid), "%s", pid);
    nseen++;
}

static void report(struct grabbed *g)
{
    char reopen[64];
    struct statvfs vfs;
    int rd, wr, seals = -1, readonly = 0, write_errno = 0, memwrite_errno = -1;

    if (fstatvfs(g->fd, &vfs) == 0)
        readonly = (vfs.f_flag & ST_RDONLY) != 0;
    snprintf(reopen, sizeof(reopen), "/proc/self/fd/%d", g->fd);
    rd = open(reopen, O_RDONLY | O_CLOEXEC);
    if (rd >= 0) {
        seals = fcntl(rd, F_GET_SEALS);
        close(rd);
    }
    wr = open(reopen, O_WRONLY | O_CLOEXEC);
    if (wr < 0) {
        write_errno = errno;
    } else {
        if (seals >= 0)  /* a memfd: no host file is at stake */
            memwrite_errno = pwrite(wr, "x", 1, 0) == 1 ? 0 : errno;
        close(wr);
    }
    printf("exe %s %lu:%lu nlink=%lu seals=%d ro=%d write=%d memwrite=%d\n", g->pid,
           (unsigned long)g->st.st_dev, (unsigned long)g->st.st_ino, (unsigned long)g->st.st_nlink,
           seals, readonly, write_errno, memwrite_errno);
}

int main(int argc, char **argv)
{
    time_t end = time(NULL) + (argc > 1 ? atoi(argv[1]) : 5);
    char self[16];
    snprintf(self, sizeof(self), "%d", getpid());
    while (time(NULL) < end) {
        DIR *proc = opendir("/proc");
        struct dirent *entry;
        if (!proc)
            return 1;
        while ((entry = readdir(proc)))
            if (entry->d_name[0] >= '1' && entry->d_name[0] <= '9' && strcmp(entry->d_name, self))
                grab(entry->d_name);
        closedir(proc);
    }
    sleep(1);  /* the processes that ran them are likely gone: the exploit's moment */
    for (int i = 0; i < nseen; i++)
        report(&seen[i]);
    printf("done\n");
    fflush(stdout);
    return 0;
}
