/*
 * it_addr.c - every address family a server takes: IPv6 (listen, lookup
 * in any spelling, black-list networks), IPv4 peers of an IPv6 socket
 * shown and black-listed as IPv4, host names resolved at configuration,
 * Unix sockets in the file system and in the abstract namespace (the name
 * removed at stop, another's name never taken), client mode to IPv6 and
 * Unix peers; shared and dedicated receivers.  Both backends run these
 * (the epoll rerun).  IPv6 cases exit 77 (skipped) where the machine has
 * no ::1.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "itest.h"

static bool
have_ipv6(void)
{
    struct sockaddr_in6 sa;
    int fd = socket(AF_INET6, SOCK_STREAM | SOCK_CLOEXEC, 0);
    bool ok;

    if (fd < 0)
        return false;
    memset(&sa, 0, sizeof(sa));
    sa.sin6_family = AF_INET6;
    sa.sin6_addr = in6addr_loopback;
    ok = bind(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0;
    close(fd);
    return ok;
}

static void
need_ipv6(void)
{
    if (!have_ipv6()) {
        fprintf(stderr, "%s: no IPv6 loopback here: skipped\n", it_case);
        exit(77);
    }
}

/* A path for a Unix socket, unique to this process. */
static void
sock_path(char *buf, size_t n, const char *tag)
{
    const char *dir = getenv("TMPDIR");

    snprintf(buf, n, "unix:%s/tsl-it-%s-%d.sock",
             dir != NULL && dir[0] != '\0' ? dir : "/tmp", tag, (int)getpid());
    unlink(buf + 5);
}

static bool
is_socket(const char *path)
{
    struct stat st;

    return stat(path, &st) == 0 && S_ISSOCK(st.st_mode);
}

static void
start_at(struct it_server *s, const char *addr, bool threaded)
{
    it_server_create_at(s, "addr", addr, "variable", IT_ECHO);
    if (threaded)
        IT_EQ(tsl_server_set_flags(s->srv, TSL_SERVER_MULTI_THREADED), 0);
    IT_EQ(tsl_server_start(s->srv), 0);
    s->port = tsl_server_port(s->srv);
}

/* The one client of s, by address and port. */
static void
check_peer(struct it_server *s, const char *spelling, const char *shown,
           uint16_t port)
{
    tsl_client_t *c = tsl_server_find_client_addr(s->srv, spelling, port);

    if (c == NULL)
        IT_FAIL("no client found as %s port %u", spelling, port);
    IT_CHECK(strcmp(tsl_client_ip(c), shown) == 0);
    IT_EQ(tsl_client_port(c), port);
    tsl_client_unref(c);
}

static uint16_t
local_port(int fd)
{
    struct sockaddr_in6 sa;
    socklen_t len = sizeof(sa);

    IT_EQ(getsockname(fd, (struct sockaddr *)&sa, &len), 0);
    return ntohs(sa.sin6_port); /* the same place in sockaddr_in */
}

static void
ipv6_echo(bool threaded)
{
    struct it_server s;
    int fd;

    need_ipv6();
    start_at(&s, "::1", threaded);
    IT_CHECK(strcmp(tsl_server_ip(s.srv), "::1") == 0);
    IT_CHECK(s.port != 0);
    fd = it_connect_to("[::1]", s.port);
    it_echo_once(fd, "over IPv6");
    IT_WAIT(&s, s.connected == 1, 2000);
    check_peer(&s, "::1", "::1", local_port(fd));
    check_peer(&s, "[::1]", "::1", local_port(fd));
    check_peer(&s, "0:0:0:0::1", "::1", local_port(fd));
    it_close(fd);
    IT_WAIT(&s, s.by_reason[TSL_REASON_PEER_CLOSED] == 1, 2000);
    it_server_finish(&s);
}

static void
ipv6_listen_and_echo(void)
{
    ipv6_echo(false);
}

static void
ipv6_listen_and_echo_threaded(void)
{
    ipv6_echo(true);
}

/* Connects and waits for the server to answer one way or the other: an
 * echo (admitted) or a close (rejected).  Returns true if admitted. */
static bool
admitted(const char *addr, uint16_t port)
{
    uint8_t frame[64], back[64];
    size_t n = it_frame("x", 1, frame);
    int fd = it_connect_to(addr, port);
    ssize_t r;

    it_send_all(fd, frame, n);
    r = recv(fd, back, n, MSG_WAITALL);
    it_close(fd);
    if (r == (ssize_t)n && memcmp(frame, back, n) == 0)
        return true;
    if (r <= 0)
        return false;
    IT_FAIL("%s: %zd bytes, not the echo", addr, r);
}

static void
ipv6_black_list_networks(void)
{
    struct it_server s;

    need_ipv6();
    start_at(&s, "::1", false);
    IT_CHECK(admitted("::1", s.port));
    IT_EQ(tsl_server_blacklist_add(s.srv, "2001:db8::/32"), 0);
    IT_CHECK(admitted("::1", s.port));
    IT_EQ(tsl_server_blacklist_add(s.srv, "::/1"), 0); /* holds ::1 */
    IT_CHECK(!admitted("::1", s.port));
    IT_WAIT(&s, s.by_reject[TSL_REJECT_BLACKLISTED] == 1, 2000);
    IT_CHECK(strcmp(s.rejected_ip, "::1") == 0);
    /* An IPv4 entry that would hold it as a number does not. */
    IT_EQ(tsl_server_blacklist_remove(s.srv, "::/1"), 0);
    IT_EQ(tsl_server_blacklist_add(s.srv, "0.0.0.0/0"), 0);
    IT_CHECK(admitted("::1", s.port));
    IT_EQ(tsl_server_blacklist_add(s.srv, "::1"), 0);
    IT_CHECK(!admitted("::1", s.port));
    IT_WAIT(&s, s.by_reject[TSL_REJECT_BLACKLISTED] == 2, 2000);
    IT_EQ(tsl_server_blacklist_remove(s.srv, "[::1]/128"), 0);
    IT_CHECK(admitted("::1", s.port));
    IT_WAIT(&s, s.disconnected == 4, 2000);
    it_server_finish(&s);
}

/* An IPv6 socket on the IPv4-mapped loopback takes IPv4 clients; they are
 * shown, found and black-listed as the IPv4 addresses they are. */
static void
mapped_ipv4_peers_are_ipv4(void)
{
    struct it_server s;
    int fd;

    need_ipv6();
    start_at(&s, "::ffff:127.0.0.1", false);
    IT_CHECK(strcmp(tsl_server_ip(s.srv), "127.0.0.1") == 0);
    fd = it_connect_from(s.port, "127.0.0.3");
    it_echo_once(fd, "mapped");
    IT_WAIT(&s, s.connected == 1, 2000);
    check_peer(&s, "127.0.0.3", "127.0.0.3", local_port(fd));
    check_peer(&s, "::ffff:127.0.0.3", "127.0.0.3", local_port(fd));
    it_close(fd);
    IT_EQ(tsl_server_blacklist_add(s.srv, "127.0.0.3"), 0);
    fd = it_connect_from(s.port, "127.0.0.3");
    IT_EQ(it_wait_closed(fd, 2000), 1);
    it_close(fd);
    IT_WAIT(&s, s.by_reject[TSL_REJECT_BLACKLISTED] == 1, 2000);
    IT_CHECK(strcmp(s.rejected_ip, "127.0.0.3") == 0);
    fd = it_connect_from(s.port, "127.0.0.4"); /* not in the entry */
    it_echo_once(fd, "still served");
    it_close(fd);
    IT_EQ(tsl_server_blacklist_add(s.srv, "127.0.0.0/8"), 0);
    fd = it_connect_from(s.port, "127.0.0.4");
    IT_EQ(it_wait_closed(fd, 2000), 1);
    it_close(fd);
    IT_WAIT(&s, s.by_reject[TSL_REJECT_BLACKLISTED] == 2, 2000);
    IT_WAIT(&s, s.disconnected == 2, 2000);
    it_server_finish(&s);
}

static void
host_name_is_resolved_at_create(void)
{
    struct it_server s;
    const char *ip;
    int fd;

    start_at(&s, "localhost", false);
    ip = tsl_server_ip(s.srv);
    IT_CHECK(strcmp(ip, "127.0.0.1") == 0 || strcmp(ip, "::1") == 0);
    fd = it_connect_to(ip, s.port);
    it_echo_once(fd, "by name");
    it_close(fd);
    IT_WAIT(&s, s.disconnected == 1, 2000);
    it_server_finish(&s);
}

static void
unix_echo(bool threaded)
{
    struct it_server s, other;
    char addr[128];
    int fd, fd2;

    sock_path(addr, sizeof(addr), threaded ? "thr" : "mux");
    start_at(&s, addr, threaded);
    IT_CHECK(strcmp(tsl_server_ip(s.srv), addr) == 0);
    IT_EQ(s.port, 0);
    IT_CHECK(is_socket(addr + 5));
    fd = it_connect_to(addr, 0);
    it_echo_once(fd, "over a Unix socket");
    IT_WAIT(&s, s.connected == 1, 2000);
    check_peer(&s, "unix", "unix", 0);
    /* Another server cannot take the name, nor remove it on failing. */
    it_server_create_at(&other, "other", addr, "variable", IT_ECHO);
    IT_EQ(tsl_server_start(other.srv), TSL_EADDRINUSE);
    it_server_finish(&other);
    IT_CHECK(is_socket(addr + 5));
    fd2 = it_connect_to(addr, 0);
    it_echo_once(fd2, "second client");
    it_echo_once(fd, "first again");
    it_close(fd);
    it_close(fd2);
    IT_WAIT(&s, s.by_reason[TSL_REASON_PEER_CLOSED] == 2, 2000);
    /* The black-list holds addresses; a Unix peer has none. */
    IT_EQ(tsl_server_blacklist_add(s.srv, "0.0.0.0/0"), 0);
    IT_EQ(tsl_server_blacklist_add(s.srv, "::/0"), 0);
    IT_CHECK(admitted(addr, 0));
    /* Stop removes the name; a start makes it again. */
    IT_EQ(tsl_server_stop(s.srv), 0);
    IT_CHECK(!is_socket(addr + 5));
    IT_EQ(tsl_server_start(s.srv), 0);
    IT_CHECK(is_socket(addr + 5));
    IT_CHECK(admitted(addr, 0));
    IT_WAIT(&s, s.disconnected == 4, 2000);
    it_server_finish(&s);
    IT_CHECK(!is_socket(addr + 5));
}

static void
unix_socket_echo(void)
{
    unix_echo(false);
}

static void
unix_socket_echo_threaded(void)
{
    unix_echo(true);
}

static void
unix_abstract_name(void)
{
    struct it_server s;
    char addr[64];
    int fd;

    snprintf(addr, sizeof(addr), "unix:@tsl-it-%d", (int)getpid());
    start_at(&s, addr, false);
    IT_CHECK(strcmp(tsl_server_ip(s.srv), addr) == 0);
    fd = it_connect_to(addr, 0);
    it_echo_once(fd, "abstract");
    it_close(fd);
    IT_WAIT(&s, s.disconnected == 1, 2000);
    it_server_finish(&s);
}

/* A listening socket of the remote side, on addr ("::1" or a path). */
static int
remote_listen(const char *addr, uint16_t *port)
{
    union {
        struct sockaddr sa;
        struct sockaddr_in6 in6;
        struct sockaddr_un un;
    } u;
    socklen_t len;
    int fd;

    memset(&u, 0, sizeof(u));
    if (strncmp(addr, "unix:", 5) == 0) {
        u.un.sun_family = AF_UNIX;
        snprintf(u.un.sun_path, sizeof(u.un.sun_path), "%s", addr + 5);
        len = sizeof(u.un);
    } else {
        u.in6.sin6_family = AF_INET6;
        u.in6.sin6_addr = in6addr_loopback;
        len = sizeof(u.in6);
    }
    fd = socket(u.sa.sa_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    IT_CHECK(fd >= 0);
    if (bind(fd, &u.sa, len) < 0 || listen(fd, 8) < 0)
        IT_FAIL("remote listen on %s: %s", addr, strerror(errno));
    len = sizeof(u);
    IT_EQ(getsockname(fd, &u.sa, &len), 0);
    *port = u.sa.sa_family == AF_UNIX ? 0 : ntohs(u.in6.sin6_port);
    return fd;
}

static void
connects_out(const char *remote, const char *spelling)
{
    struct it_server s;
    uint16_t port;
    int lfd = remote_listen(remote, &port), fd;

    it_server_start(&s, "out", "variable", IT_ECHO);
    IT_CHECK(tsl_server_connect(s.srv, spelling, port, TSL_CONNECT_ONCE) > 0);
    fd = it_accept_within(lfd, 5000);
    IT_CHECK(fd >= 0);
    IT_WAIT(&s, s.connected == 1, 2000);
    it_echo_once(fd, "the remote speaks");
    it_close(fd);
    IT_WAIT(&s, s.by_reason[TSL_REASON_PEER_CLOSED] == 1, 2000);
    close(lfd);
    it_server_finish(&s);
}

static void
client_mode_to_ipv6(void)
{
    need_ipv6();
    connects_out("::1", "[::1]");
}

static void
client_mode_to_unix(void)
{
    char addr[128];

    sock_path(addr, sizeof(addr), "out");
    connects_out(addr, addr);
    unlink(addr + 5);
}

static void
connect_refuses_bad_addresses(void)
{
    struct it_server s;

    it_server_start(&s, "bad", "variable", IT_ECHO);
    IT_EQ(tsl_server_connect(s.srv, "::1", 0, 0), TSL_EINVAL);
    IT_EQ(tsl_server_connect(s.srv, "no such host", 80, 0), TSL_EINVAL);
    IT_EQ(tsl_server_connect(s.srv, "unix:", 0, 0), TSL_EINVAL);
    IT_EQ(tsl_server_connect(s.srv, "10.0.0.0/8", 80, 0), TSL_EINVAL);
    it_server_finish(&s);
}

int
main(int argc, char **argv)
{
    static const struct it_case_def cases[] = {
        {"ipv6_listen_and_echo", ipv6_listen_and_echo},
        {"ipv6_listen_and_echo_threaded", ipv6_listen_and_echo_threaded},
        {"ipv6_black_list_networks", ipv6_black_list_networks},
        {"mapped_ipv4_peers_are_ipv4", mapped_ipv4_peers_are_ipv4},
        {"host_name_is_resolved_at_create", host_name_is_resolved_at_create},
        {"unix_socket_echo", unix_socket_echo},
        {"unix_socket_echo_threaded", unix_socket_echo_threaded},
        {"unix_abstract_name", unix_abstract_name},
        {"client_mode_to_ipv6", client_mode_to_ipv6},
        {"client_mode_to_unix", client_mode_to_unix},
        {"connect_refuses_bad_addresses", connect_refuses_bad_addresses},
        {NULL, NULL},
    };

    return it_main(argc, argv, cases);
}
