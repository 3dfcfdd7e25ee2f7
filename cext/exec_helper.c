/* ocirun-exec: the last exec of a container's process.
 *
 *     ocirun-exec [--wait FIFO_FD] STATUS_FD|- PATH ARG0 [ARGS...]
 *
 * ocirun runs this program from a sealed memfd (ocirun/process/sealed_exec.py),
 * so that /proc/self/exe of a container's process is never the host's Python
 * interpreter.  With --wait it first reads one byte from FIFO_FD (the exec
 * fifo that `ocirun start` writes): the created container's init waits here,
 * as this program, not as the interpreter.  Then it execs PATH with ARG0...
 * and the environment it was given.  If that fails it says why on stderr and
 * on STATUS_FD (the exec.status FIFO that `ocirun start` reads, when there is
 * one), in runc's words, then exits 1 as runc's init does.  Both fds are made close-on-exec first, so that they
 * close when PATH runs. */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>

extern char **environ;

/* A decimal fd, -1 for "-", -2 for anything else. */
static int parse_fd(const char *text)
{
    int fd = 0;
    if (text[0] == '-' && text[1] == '\0')
        return -1;
    if (!*text)
        return -2;
    for (; *text; text++) {
        if (*text < '0' || *text > '9' || fd > 100000000)
            return -2;
        fd = fd * 10 + (*text - '0');
    }
    return fd;
}

static void write_parts(int fd, const char *const parts[], unsigned count)
{
    for (unsigned i = 0; i < count; i++)
        if (write(fd, parts[i], strlen(parts[i])) < 0)
            return;
}

static int usage(void)
{
    static const char *const text[] = {"usage: ocirun-exec [--wait FIFO_FD] STATUS_FD|- PATH ARG0 [ARGS...]\n"};
    write_parts(2, text, 1);
    return 127;
}

int main(int argc, char *argv[])
{
    int status_fd, wait_fd = -1;
    const char *arg0;
    char byte, reason[128];
    ssize_t got;

    if (argc > 2 && strcmp(argv[1], "--wait") == 0) {
        if ((wait_fd = parse_fd(argv[2])) < 0)
            return usage();
        argc -= 2;
        argv += 2;
    }
    if (argc < 3 || (status_fd = parse_fd(argv[1])) == -2)
        return usage();
    if (status_fd >= 0)
        fcntl(status_fd, F_SETFD, FD_CLOEXEC);
    if (wait_fd >= 0) {
        do
            got = read(wait_fd, &byte, 1);
        while (got < 0 && errno == EINTR);
        if (got != 1)
            return 127;
        close(wait_fd);
    }
    execve(argv[2], argv + 3, environ);
    /* Go's spelling of errno, which runc prints: "exec format error" */
    strncpy(reason, strerror(errno), sizeof(reason) - 1);
    reason[sizeof(reason) - 1] = '\0';
    reason[0] = (char)tolower((unsigned char)reason[0]);
    arg0 = argc > 3 ? argv[3] : argv[2];
    const char *const line[] = {"exec ", arg0, ": ", reason, "\n"};
    write_parts(2, line, 5);
    if (status_fd >= 0)
        write_parts(status_fd, line, 4);  /* "exec ARG0: reason", as start reports it */
    return 1;
}
