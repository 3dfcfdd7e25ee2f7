/* ocirun-exec: the last exec of a container's process.
 *
 *     ocirun-exec STATUS_FD|- PATH ARG0 [ARGS...]
 *
 * ocirun runs this program from a sealed memfd (ocirun/process/sealed_exec.py),
 * so that /proc/self/exe of a container's process is never the host's Python
 * interpreter.  It only execs PATH with ARG0... and the environment it was
 * given.  If that fails it says why on stderr and on STATUS_FD (the exec.status
 * FIFO that `ocirun start` reads, when there is one), then exits 127.
 * STATUS_FD is made close-on-exec first, so that it closes when PATH runs. */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>

extern char **environ;

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

int main(int argc, char *argv[])
{
    int status_fd;
    const char *arg0, *reason;

    if (argc < 3 || (status_fd = parse_fd(argv[1])) == -2) {
        static const char *const usage[] = {"usage: ocirun-exec STATUS_FD|- PATH ARG0 [ARGS...]\n"};
        write_parts(2, usage, 1);
        return 127;
    }
    if (status_fd >= 0)
        fcntl(status_fd, F_SETFD, FD_CLOEXEC);
    execve(argv[2], argv + 3, environ);
    reason = strerror(errno);
    arg0 = argc > 3 ? argv[3] : argv[2];
    const char *const line[] = {"ocirun: ", "exec ", arg0, ": ", reason, "\n"};
    write_parts(2, line, 6);
    if (status_fd >= 0)
        write_parts(status_fd, line + 1, 4);  /* "exec ARG0: reason", as start reports it */
    return 127;
}
