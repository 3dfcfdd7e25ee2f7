/* sd_notify MESSAGE: send MESSAGE as one datagram to $NOTIFY_SOCKET, as a
 * service's sd_notify(3) does (busybox has no way to reach a unix datagram
 * socket). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>

int main(int argc, char **argv)
{
    const char *path = getenv("NOTIFY_SOCKET");
    struct sockaddr_un address = {.sun_family = AF_UNIX};
    if (argc != 2 || !path || strlen(path) >= sizeof(address.sun_path))
        return 2;
    strcpy(address.sun_path, path);
    int fd = socket(AF_UNIX, SOCK_DGRAM, 0);
    if (fd < 0 || sendto(fd, argv[1], strlen(argv[1]), 0, (struct sockaddr *)&address, sizeof(address)) < 0) {
        perror("sd_notify");
        return 1;
    }
    return 0;
}
