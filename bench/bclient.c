/*
 * bclient: small clients for bench/run.sh (built into the run's temp dir).
 *
 *   bclient port                  print a TCP port free on 127.0.0.1, below
 *                                 the kernel's ephemeral range
 *   bclient wait PORT SECONDS     exit 0 as soon as 127.0.0.1:PORT accepts a
 *                                 connection, 1 after SECONDS
 *   bclient seq PORT N [PATH]     N GET requests one after the other on one
 *                                 keep-alive connection; prints
 *                                 "requests=N errors=E seconds=S rps=R
 *                                 p50_ms=X p99_ms=Y max_ms=Z"
 *   bclient idle PORT N [PATH]    opens N connections (at most 256 being set
 *                                 up at a time), sends one GET on each and
 *                                 reads its response, then keeps them all
 *                                 open and idle; prints "ready=K failed=F
 *                                 wanted=N seconds=S" once done, then waits:
 *                                 SIGUSR1 checks how many connections the
 *                                 server has not closed, prints "alive=A
 *                                 closed=C" and exits; SIGTERM exits.
 *
 * Only 127.0.0.1.  Responses must carry Content-Length (every response of
 * t/origin does, and the proxies pass it on).  PATH defaults to
 * /?size=100.
 */

#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <arpa/inet.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define IDLE_INFLIGHT 256
#define IDLE_TIMEOUT  45.0    /* seconds for the whole set-up of idle */
#define RESP_MAX      (256 * 1024)
#define IDLE_BUF      8192    /* largest response in idle mode */

static double
now(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

static void
die(const char *msg)
{
    fprintf(stderr, "bclient: %s: %s\n", msg, strerror(errno));
    exit(2);
}

static struct sockaddr_in
addr_of(int port)
{
    struct sockaddr_in sa;

    memset(&sa, 0, sizeof sa);
    sa.sin_family = AF_INET;
    sa.sin_port = htons((unsigned short)port);
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    return sa;
}

static int
cmd_port(void)
{
    int lo = 32768;
    FILE *f = fopen("/proc/sys/net/ipv4/ip_local_port_range", "r");

    if (f) {
        if (fscanf(f, "%d", &lo) != 1)
            lo = 32768;
        fclose(f);
    }
    if (lo < 12000)
        lo = 32768;
    srand((unsigned)(getpid() ^ (unsigned)(now() * 1e6)));
    for (int i = 0; i < 500; i++) {
        int p = 10000 + rand() % (lo - 10000);
        int s = socket(AF_INET, SOCK_STREAM, 0);
        struct sockaddr_in sa = addr_of(p);

        if (s < 0)
            die("socket");
        if (bind(s, (struct sockaddr *)&sa, sizeof sa) == 0
            && listen(s, 1) == 0) {
            close(s);
            printf("%d\n", p);
            return 0;
        }
        close(s);
    }
    fprintf(stderr, "bclient: no free port found\n");
    return 1;
}

static int
cmd_wait(int port, double secs)
{
    double end = now() + secs;
    struct sockaddr_in sa = addr_of(port);

    for (;;) {
        int s = socket(AF_INET, SOCK_STREAM, 0);

        if (s < 0)
            die("socket");
        if (connect(s, (struct sockaddr *)&sa, sizeof sa) == 0) {
            close(s);
            return 0;
        }
        close(s);
        if (now() > end)
            return 1;
        usleep(20000);
    }
}

/*
 * Response framing: returns the total length of the response (head and
 * body) once buf[0..len) holds all of it, 0 when more is needed, -1 when
 * it cannot be framed (no Content-Length) or the status is not 2xx.
 */
static long
resp_complete(const char *buf, size_t len)
{
    const char *end = memmem(buf, len, "\r\n\r\n", 4);
    long head, clen = -1;

    if (!end)
        return len > RESP_MAX ? -1 : 0;
    head = end - buf + 4;
    if (len < 12 || memcmp(buf, "HTTP/1.", 7) != 0 || buf[9] != '2')
        return -1;
    for (const char *p = buf; p < end; ) {
        const char *nl = memmem(p, (size_t)(end - p), "\r\n", 2);

        if (!nl)
            nl = end;
        if (nl - p > 15 && strncasecmp(p, "Content-Length:", 15) == 0)
            clen = strtol(p + 15, NULL, 10);
        p = nl + 2;
    }
    if (clen < 0)
        return -1;
    return (size_t)(head + clen) <= len ? head + clen : 0;
}

static int
cmpd(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;

    return x < y ? -1 : x > y;
}

static int
cmd_seq(int port, long n, const char *path)
{
    struct sockaddr_in sa = addr_of(port);
    char req[1024], *buf;
    double *lat, t0;
    long errors = 0, done = 0;
    int one = 1, s, rl;

    rl = snprintf(req, sizeof req,
                  "GET %s HTTP/1.1\r\nHost: 127.0.0.1:%d\r\n"
                  "User-Agent: bclient\r\n\r\n", path, port);
    buf = malloc(RESP_MAX * 8);
    lat = calloc((size_t)n, sizeof *lat);
    if (!buf || !lat)
        die("malloc");
    s = socket(AF_INET, SOCK_STREAM, 0);
    if (s < 0 || connect(s, (struct sockaddr *)&sa, sizeof sa) < 0)
        die("connect");
    setsockopt(s, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    t0 = now();
    for (long i = 0; i < n; i++) {
        double a = now();
        size_t len = 0;
        long r = 0;

        if (write(s, req, (size_t)rl) != rl)
            die("write");
        for (;;) {
            ssize_t k = read(s, buf + len, RESP_MAX * 8 - len);

            if (k <= 0) {
                fprintf(stderr, "bclient: connection closed after %ld "
                        "responses\n", done);
                errors++;
                goto out;
            }
            len += (size_t)k;
            r = resp_complete(buf, len);
            if (r != 0)
                break;
        }
        if (r < 0 || (size_t)r != len)
            errors++;
        lat[done++] = (now() - a) * 1000.0;
    }
out:;
    double secs = now() - t0;

    qsort(lat, (size_t)done, sizeof *lat, cmpd);
    printf("requests=%ld errors=%ld seconds=%.3f rps=%.0f p50_ms=%.3f "
           "p99_ms=%.3f max_ms=%.3f\n", done, errors, secs,
           secs > 0 ? done / secs : 0.0,
           done ? lat[done / 2] : 0.0,
           done ? lat[(long)(done * 0.99)] : 0.0,
           done ? lat[done - 1] : 0.0);
    close(s);
    return errors ? 1 : 0;
}

struct iconn {
    int fd;
    int state;          /* 0 unused, 1 connecting, 2 reading, 3 idle, 4 failed */
    size_t len;
    char *buf;          /* the response while it is read (IDLE_BUF) */
};

static volatile sig_atomic_t got_usr1, got_term;

static void
on_sig(int sig)
{
    if (sig == SIGUSR1)
        got_usr1 = 1;
    else
        got_term = 1;
}

static int
cmd_idle(int port, long n, const char *path)
{
    struct sockaddr_in sa = addr_of(port);
    struct rlimit rl;
    struct iconn *c;
    struct epoll_event ev[512];
    char req[1024];
    long started = 0, ready = 0, failed = 0, inflight = 0, wanted = n;
    double t0 = now();
    int ep, reqlen;
    sigset_t block, none;
    struct sigaction act;

    if (getrlimit(RLIMIT_NOFILE, &rl) == 0) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
        getrlimit(RLIMIT_NOFILE, &rl);
        if ((long)rl.rlim_cur - 32 < n)
            n = (long)rl.rlim_cur - 32;
    }
    reqlen = snprintf(req, sizeof req,
                      "GET %s HTTP/1.1\r\nHost: 127.0.0.1:%d\r\n"
                      "User-Agent: bclient\r\n\r\n", path, port);
    c = calloc((size_t)n, sizeof *c);
    ep = epoll_create1(0);
    if (!c || ep < 0)
        die("idle set-up");

    while (ready + failed < n && now() - t0 < IDLE_TIMEOUT) {
        while (inflight < IDLE_INFLIGHT && started < n) {
            struct iconn *x = &c[started];
            struct epoll_event e = { .events = EPOLLOUT | EPOLLIN,
                                     .data.ptr = x };

            x->fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
            started++;
            if (x->fd < 0) {
                x->state = 4;
                failed++;
                continue;
            }
            if (connect(x->fd, (struct sockaddr *)&sa, sizeof sa) < 0
                && errno != EINPROGRESS) {
                close(x->fd);
                x->state = 4;
                failed++;
                continue;
            }
            x->state = 1;
            epoll_ctl(ep, EPOLL_CTL_ADD, x->fd, &e);
            inflight++;
        }
        int k = epoll_wait(ep, ev, 512, 1000);

        for (int i = 0; i < k; i++) {
            struct iconn *x = ev[i].data.ptr;

            if (x->state == 1) {
                int err = 0;
                socklen_t sl = sizeof err;

                getsockopt(x->fd, SOL_SOCKET, SO_ERROR, &err, &sl);
                if (err || write(x->fd, req, (size_t)reqlen) != reqlen)
                    goto fail;
                struct epoll_event e = { .events = EPOLLIN, .data.ptr = x };
                epoll_ctl(ep, EPOLL_CTL_MOD, x->fd, &e);
                x->state = 2;
                x->len = 0;
                x->buf = malloc(IDLE_BUF);
                if (!x->buf)
                    die("malloc");
            } else if (x->state == 2) {
                ssize_t r = read(x->fd, x->buf + x->len, IDLE_BUF - x->len);
                long cl;

                if (r < 0 && errno == EAGAIN)
                    continue;
                if (r <= 0)
                    goto fail;
                x->len += (size_t)r;
                cl = resp_complete(x->buf, x->len);
                if (cl < 0 || (cl > 0 && (size_t)cl != x->len))
                    goto fail;
                if (cl == 0) {
                    if (x->len >= IDLE_BUF)
                        goto fail;
                    continue;
                }
                free(x->buf);
                x->buf = NULL;
                epoll_ctl(ep, EPOLL_CTL_DEL, x->fd, NULL);
                x->state = 3;
                ready++;
                inflight--;
            }
            continue;
fail:
            free(x->buf);
            x->buf = NULL;
            epoll_ctl(ep, EPOLL_CTL_DEL, x->fd, NULL);
            close(x->fd);
            x->state = 4;
            failed++;
            inflight--;
        }
    }
    printf("ready=%ld failed=%ld wanted=%ld seconds=%.2f\n", ready,
           failed + (n - ready - failed), wanted, now() - t0);
    fflush(stdout);

    memset(&act, 0, sizeof act);
    act.sa_handler = on_sig;
    sigemptyset(&block);
    sigaddset(&block, SIGUSR1);
    sigaddset(&block, SIGTERM);
    sigaddset(&block, SIGINT);
    sigprocmask(SIG_BLOCK, &block, NULL);
    sigaction(SIGUSR1, &act, NULL);
    sigaction(SIGTERM, &act, NULL);
    sigaction(SIGINT, &act, NULL);
    sigemptyset(&none);
    while (!got_usr1 && !got_term)
        sigsuspend(&none);
    if (got_usr1) {
        long alive = 0, closed = 0;

        for (long i = 0; i < n; i++) {
            char b;
            ssize_t r;

            if (c[i].state != 3)
                continue;
            r = recv(c[i].fd, &b, 1, MSG_PEEK | MSG_DONTWAIT);
            if (r < 0 && errno == EAGAIN)
                alive++;
            else
                closed++;
        }
        printf("alive=%ld closed=%ld\n", alive, closed);
        fflush(stdout);
    }
    return 0;
}

int
main(int argc, char **argv)
{
    signal(SIGPIPE, SIG_IGN);
    setvbuf(stdout, NULL, _IOLBF, 0);
    if (argc >= 2 && strcmp(argv[1], "port") == 0)
        return cmd_port();
    if (argc == 4 && strcmp(argv[1], "wait") == 0)
        return cmd_wait(atoi(argv[2]), atof(argv[3]));
    if ((argc == 4 || argc == 5) && strcmp(argv[1], "seq") == 0)
        return cmd_seq(atoi(argv[2]), atol(argv[3]),
                       argc == 5 ? argv[4] : "/?size=100");
    if ((argc == 4 || argc == 5) && strcmp(argv[1], "idle") == 0)
        return cmd_idle(atoi(argv[2]), atol(argv[3]),
                        argc == 5 ? argv[4] : "/?size=100");
    fprintf(stderr, "usage: bclient port | wait PORT SECONDS | "
            "seq PORT N [PATH] | idle PORT N [PATH]\n");
    return 2;
}
