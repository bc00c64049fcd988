/* shm: the shared region's layout, server slots and per-row counters. */
#include <stdint.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <signal.h>
#include <time.h>

#include "shm.h"
#include "srv.h"
#include "tap.h"

static int
aligned64(uint64_t v)
{
    return v % 64 == 0;
}

static void
test_layout(unsigned max_servers, unsigned rows)
{
    struct shm s;

    memset(&s, 0, sizeof(s));
    if (!ok(shm_create(&s, max_servers, rows) == 0,
            "shm_create(%u servers, %u rows)", max_servers, rows))
        return;
    struct shm_header *h = s.hdr;
    ok(h->magic == SHM_MAGIC && h->version == SHM_VERSION &&
       h->max_servers == max_servers && h->rows == rows && h->hwm == 0,
       "  header filled in");
    ok(aligned64((uintptr_t)h) && aligned64(h->servers_off) &&
       aligned64(h->stats_off) && aligned64(h->conns_off) &&
       aligned64(h->size), "  offsets and size are 64-byte aligned");
    ok(h->servers_off >= sizeof(*h) &&
       h->stats_off >= h->servers_off +
                       (uint64_t)max_servers * sizeof(struct shm_server) &&
       h->conns_off >= h->stats_off +
                       (uint64_t)rows * sizeof(struct shm_row_stats) &&
       h->size >= h->conns_off +
                  (uint64_t)rows * max_servers * sizeof(int64_t),
       "  the parts do not overlap and fit in the size");
    is_int(h->size, shm_size(max_servers, rows), "  size matches shm_size");
    ok((char *)s.servers == (char *)h + h->servers_off &&
       (char *)s.stats == (char *)h + h->stats_off &&
       (char *)s.conns == (char *)h + h->conns_off,
       "  pointers match the offsets");
    ok(shm_conn_cell(&s, rows - 1, max_servers - 1) + 1 ==
       (_Atomic int64_t *)((char *)h + h->conns_off) +
       (size_t)rows * max_servers, "  the last counter cell is the last one");
    /* Every byte is mapped and writable (the last ones especially). */
    memset((char *)h + h->conns_off, 0, h->size - h->conns_off);
    atomic_store(shm_conn_cell(&s, rows - 1, max_servers - 1), 1);
    s.stats[rows - 1].requests = 1;
    ok(1, "  the end of the region is writable");
    shm_destroy(&s);
    ok(s.hdr == NULL && s.conns == NULL, "  shm_destroy clears the handle");
}

static void
test_bind(void)
{
    struct shm s;

    shm_create(&s, 4, 3);
    /* Generation 1. */
    int web1 = shm_server_bind(&s, "web", "10.0.0.1:80", 1, 1);
    int web2 = shm_server_bind(&s, "web", "10.0.0.2:80", 1, 1);
    int api1 = shm_server_bind(&s, "api", "10.0.0.1:80", 1, 1);
    ok(web1 == 0 && web2 == 1 && api1 == 2,
       "gen 1: three servers get slots 0, 1, 2 (%d %d %d)", web1, web2, api1);
    is_int(s.hdr->hwm, 3, "hwm is 3");
    is_str(shm_server(&s, 1)->key, "web 10.0.0.2:80",
           "the key is \"pool address\"");
    ok(shm_server(&s, 0)->in_use && shm_server(&s, 0)->gen_last == 1,
       "in use, gen_last 1");
    is_int(shm_server_find(&s, "api", "10.0.0.1:80"), 2, "find api");
    is_int(shm_server_find(&s, "api", "10.0.0.2:80"), -1,
           "find of an unknown server: -1");
    is_int(shm_server_bind(&s, "web", "10.0.0.1:80", 1, 1), 0,
           "binding again in the same generation: same slot");

    /* Live counters and state on the api slot. */
    shm_row_open(&s, 0);
    shm_row_open(&s, 2);
    shm_conn_add(&s, 0, 2, 3);
    shm_conn_add(&s, 2, 2, 4);
    atomic_store(&shm_server(&s, 2)->requests, 99);
    atomic_store(&shm_server(&s, 2)->health, SHM_HEALTH_DOWN);
    strcpy(shm_server(&s, 2)->last_error, "connection refused");
    is_int(shm_conn_total(&s, 2), 7, "api has 7 connections over 2 rows");

    /* Generation 2 (gen 1 still draining): api is gone from the config. */
    ok(shm_server_bind(&s, "web", "10.0.0.1:80", 2, 1) == 0 &&
       shm_server_bind(&s, "web", "10.0.0.2:80", 2, 1) == 1,
       "gen 2: the same pool and address keep their slots");
    is_int(shm_server(&s, 1)->gen_last, 2, "gen_last moves to 2");
    int db = shm_server_bind(&s, "db", "10.0.0.9:5432", 2, 1);
    is_int(db, 3, "a new key while gen 1 lives gets a new slot, not api's");
    is_int(shm_conn_total(&s, 2), 7, "api's counters are untouched");
    is_int(shm_server_find(&s, "api", "10.0.0.1:80"), 2,
           "api is still findable for gen 1 workers");

    /* Generation 3, gen 1 has exited (oldest live is 2). */
    shm_server_bind(&s, "web", "10.0.0.1:80", 3, 2);
    shm_server_bind(&s, "web", "10.0.0.2:80", 3, 2);
    is_int(shm_server_bind(&s, "db", "10.0.0.9:5432", 3, 2), 3,
           "an existing key wins over an earlier reusable slot");
    int cache = shm_server_bind(&s, "cache", "10.0.0.5:6379", 3, 2);
    is_int(cache, 2, "a new key reuses the slot retired before oldest_live");
    is_str(shm_server(&s, 2)->key, "cache 10.0.0.5:6379", "with its key");
    ok(shm_server(&s, 2)->in_use && shm_server(&s, 2)->gen_last == 3,
       "in use at gen 3");
    is_int(shm_conn_total(&s, 2), 0, "its connection counters are zeroed");
    ok(atomic_load(&shm_server(&s, 2)->requests) == 0 &&
       atomic_load(&shm_server(&s, 2)->health) == SHM_HEALTH_UP &&
       shm_server(&s, 2)->last_error[0] == '\0', "and its state is reset");
    is_int(shm_server_find(&s, "api", "10.0.0.1:80"), -1, "api is gone");
    is_int(s.hdr->hwm, 4, "hwm is 4");

    /* Full: every slot is used by a live generation. */
    is_int(shm_server_bind(&s, "more", "10.0.0.7:80", 3, 2), -1,
           "-1 when the table is full");
    is_int(s.hdr->hwm, 4, "hwm stays at max_servers");
    /* Once gen 2 is gone too, db (last in gen 2... re-bound in gen 3) stays,
     * but a slot last used by gen 2 only becomes free. */
    shm_server_bind(&s, "web", "10.0.0.1:80", 4, 4);
    shm_server_bind(&s, "web", "10.0.0.2:80", 4, 4);
    shm_server_bind(&s, "cache", "10.0.0.5:6379", 4, 4);
    is_int(shm_server_bind(&s, "more", "10.0.0.7:80", 4, 4), 3,
           "gen 4 without db: db's slot (gen 3) is reused");
    shm_destroy(&s);
}

/* Keys are cut at SHM_KEY_MAX: long pool names must not make two
 * servers share a slot. */
static void
test_long_keys(void)
{
    struct shm s;
    char pool_a[200], pool_b[200];

    shm_create(&s, 8, 2);
    memset(pool_a, 'p', sizeof(pool_a) - 1);
    pool_a[sizeof(pool_a) - 1] = '\0';
    memcpy(pool_b, pool_a, sizeof(pool_b));
    pool_b[sizeof(pool_b) - 2] = 'q';       /* differs only at the end */
    int a1 = shm_server_bind(&s, pool_a, "10.0.0.1:80", 1, 1);
    int a2 = shm_server_bind(&s, pool_a, "10.0.0.2:80", 1, 1);
    int b1 = shm_server_bind(&s, pool_b, "10.0.0.1:80", 1, 1);
    ok(a1 >= 0 && a2 >= 0 && b1 >= 0 && a1 != a2 && a1 != b1 && a2 != b1,
       "servers of pools with 199-byte names get their own slots "
       "(%d %d %d)", a1, a2, b1);
    ok(shm_server_bind(&s, pool_a, "10.0.0.2:80", 2, 1) == a2 &&
       shm_server_find(&s, pool_b, "10.0.0.1:80") == b1 &&
       shm_server_find(&s, pool_b, "10.0.0.2:80") == -1,
       "and keep them across a reload");
    ok(strlen(shm_server(&s, (unsigned)a1)->key) < SHM_KEY_MAX,
       "keys stay terminated");
    shm_destroy(&s);
}

static void
test_rows(void)
{
    struct shm s;

    shm_create(&s, 8, 4);
    for (int i = 0; i < 3; i++) {
        char addr[32];
        snprintf(addr, sizeof(addr), "10.0.0.%d:80", i + 1);
        shm_server_bind(&s, "p", addr, 1, 1);
    }
    /* Row r adds (r+1)*(slot+1) to each slot. */
    for (unsigned r = 0; r < 4; r++) {
        shm_row_open(&s, r);
        for (unsigned slot = 0; slot < 3; slot++) {
            shm_conn_add(&s, r, slot, (r + 1) * (slot + 1) + 1);
            shm_conn_add(&s, r, slot, -1);
        }
        atomic_store(&s.stats[r].pid, 1000 + r);
        atomic_store(&s.stats[r].client_conns, 10 + r);
        atomic_store(&s.stats[r].accepted, 100 + r);
        atomic_store(&s.stats[r].requests, 1000 + r);
    }
    ok(shm_conn_total(&s, 0) == 10 && shm_conn_total(&s, 1) == 20 &&
       shm_conn_total(&s, 2) == 30, "shm_conn_total sums every row "
       "(%lld %lld %lld)", (long long)shm_conn_total(&s, 0),
       (long long)shm_conn_total(&s, 1), (long long)shm_conn_total(&s, 2));
    is_int(shm_conn_total(&s, 5), 0, "an unused slot totals 0");

    shm_row_zero(&s, 2);
    ok(shm_conn_total(&s, 0) == 7 && shm_conn_total(&s, 1) == 14 &&
       shm_conn_total(&s, 2) == 21, "zeroing row 2 removes what it counted");
    int cells = 1;
    for (unsigned r = 0; r < 4; r++)
        for (unsigned slot = 0; slot < 3; slot++)
            if (atomic_load(shm_conn_cell(&s, r, slot)) !=
                (r == 2 ? 0 : (int64_t)((r + 1) * (slot + 1))))
                cells = 0;
    ok(cells, "exactly row 2's cells are zero, the others untouched");
    struct shm_row_stats *st = &s.stats[2];
    ok(st->pid == 0 && st->client_conns == 0 && st->accepted == 0 &&
       st->requests == 0, "row 2's stats are zeroed");
    int others = 1;
    for (unsigned r = 0; r < 4; r++)
        if (r != 2 && (s.stats[r].pid != 1000 + r ||
                       s.stats[r].client_conns != 10 + r ||
                       s.stats[r].accepted != 100 + r ||
                       s.stats[r].requests != 1000 + r))
            others = 0;
    ok(others, "the other rows' stats are untouched");
    shm_row_zero(&s, 3);
    shm_row_zero(&s, 3);
    is_int(shm_conn_total(&s, 2), 9, "zeroing twice is harmless");
    shm_destroy(&s);
}

static void
test_fork(void)
{
    struct shm s;

    shm_create(&s, 16, 8);
    int slot = shm_server_bind(&s, "web", "127.0.0.1:8080", 1, 1);
    shm_row_open(&s, 0);
    shm_row_open(&s, 5);
    shm_conn_add(&s, 0, (unsigned)slot, 2);     /* the parent's own row */
    fflush(stdout);
    fflush(stderr);
    pid_t pid = fork();
    if (pid == 0) {
        /* A worker in row 5. */
        atomic_store(&s.stats[5].pid, (int64_t)getpid());
        for (int i = 0; i < 1000; i++) {
            shm_conn_add(&s, 5, (unsigned)slot, 1);
            atomic_fetch_add(&s.stats[5].accepted, 1);
            atomic_fetch_add(&s.stats[5].requests, 3);
        }
        shm_conn_add(&s, 5, (unsigned)slot, -400);
        atomic_fetch_add(&shm_server(&s, (unsigned)slot)->requests, 3000);
        _exit(0);
    }
    int wst = -1;
    ok(pid > 0 && waitpid(pid, &wst, 0) == pid && WIFEXITED(wst) &&
       WEXITSTATUS(wst) == 0, "the child ran and exited");
    is_int(s.stats[5].pid, pid, "the parent sees the child's pid in row 5");
    is_int(s.stats[5].accepted, 1000, "and its accepted count");
    is_int(s.stats[5].requests, 3000, "and its request count");
    is_int(shm_conn_total(&s, (unsigned)slot), 602,
           "the connection total includes the child's 600");
    is_int(shm_server(&s, (unsigned)slot)->requests, 3000,
           "server counters written by the child are shared");
    shm_row_zero(&s, 5);
    is_int(shm_conn_total(&s, (unsigned)slot), 2,
           "after the child's row is zeroed only the parent's 2 remain");
    ok(s.stats[5].pid == 0 && s.stats[5].accepted == 0,
       "and its stats are gone");
    shm_destroy(&s);
}

/* Issue 12: a worker killed between the two halves of a count (the
 * server's total, then its row's cell) used to leak one active request
 * forever.  A count is now one atomic add in the worker's own row, and
 * the total the sum of the rows: whatever instant a worker dies at, the
 * master's shm_row_zero leaves exactly what the live rows hold. */
static void
test_crash_windows(void)
{
    struct shm s;
    struct conf_pool pool;
    struct conf_server sv;

    shm_create(&s, 8, 8);
    memset(&pool, 0, sizeof(pool));
    memset(&sv, 0, sizeof(sv));
    pool.name = "p";
    sv.address = "10.0.0.1:80";
    sv.slot = (uint32_t)shm_server_bind(&s, "p", "10.0.0.1:80", 1, 1);
    for (unsigned r = 0; r < 8; r++)
        shm_row_open(&s, r);

    /* The step by step: every point a SIGKILL can land on. */
    ok(srv_acquire(&s, 1, sv.slot, &pool, &sv, 0) == 0, "row 1 acquires");
    is_int(srv_active(&s, sv.slot), 1, "active 1: in the same step as the "
           "row's cell");
    is_int(atomic_load(shm_conn_cell(&s, 1, sv.slot)), 1, "row 1 holds it");
    shm_row_zero(&s, 1);        /* killed after acquire */
    is_int(srv_active(&s, sv.slot), 0, "killed after acquire: 0 after repair");
    srv_acquire(&s, 2, sv.slot, &pool, &sv, 0);
    srv_acquire(&s, 3, sv.slot, &pool, &sv, 0);
    srv_release(&s, 2, sv.slot);
    shm_row_zero(&s, 2);        /* killed after release */
    is_int(srv_active(&s, sv.slot), 1, "killed after release: row 3's 1 stays");
    shm_row_zero(&s, 3);
    /* max_conns: the refused attempt leaves nothing behind. */
    sv.max_conns = 1;
    ok(srv_acquire(&s, 4, sv.slot, &pool, &sv, 0) == 0 &&
       srv_acquire(&s, 5, sv.slot, &pool, &sv, 0) < 0,
       "max_conns 1: the second is refused");
    is_int(atomic_load(shm_conn_cell(&s, 5, sv.slot)), 0,
           "the refused row holds nothing");
    shm_row_zero(&s, 4);
    is_int(srv_active(&s, sv.slot), 0, "and after row 4's repair, 0");

    /* Real kills at random instants: 4 children (rows 1-4) acquire and
     * release as fast as they can, max_conns 3; each is SIGKILLed at some
     * point, its row repaired; the parent (row 0) holds 1 throughout. */
    sv.max_conns = 3;
    ok(srv_acquire(&s, 0, sv.slot, &pool, &sv, 0) == 0, "the parent holds 1");
    pid_t kids[4];
    for (int c = 0; c < 4; c++) {
        kids[c] = fork();
        if (kids[c] == 0) {
            for (;;) {
                if (srv_acquire(&s, (unsigned)c + 1, sv.slot, &pool, &sv,
                                0) == 0)
                    srv_release(&s, (unsigned)c + 1, sv.slot);
            }
        }
    }
    int exact = 1;
    for (int c = 0; c < 4; c++) {
        struct timespec ts = { 0, 2000000 + 1000000 * c };
        nanosleep(&ts, NULL);
        kill(kids[c], SIGKILL);
        waitpid(kids[c], NULL, 0);
        shm_row_zero(&s, (unsigned)c + 1);
        /* the rows still running may hold 0 or 1 each */
        int64_t a = srv_active(&s, sv.slot);
        if (a < 1 || a > 1 + (3 - c))
            exact = 0;
    }
    ok(exact, "each kill, once repaired, leaves no stray count");
    is_int(srv_active(&s, sv.slot), 1,
           "all killed and repaired: exactly the parent's 1");
    srv_release(&s, 0, sv.slot);
    is_int(srv_active(&s, sv.slot), 0, "released: 0");

    /* max_conns under a race: what is held (counted after a successful
     * acquire, uncounted before its release) never passes 3. */
    _Atomic uint32_t *held = &shm_server(&s, sv.slot)->checks_ok;
    _Atomic uint32_t *over = &shm_server(&s, sv.slot)->checks_failed;
    for (int c = 0; c < 4; c++) {
        if (fork() == 0) {
            for (int i = 0; i < 20000; i++)
                if (srv_acquire(&s, (unsigned)c + 1, sv.slot, &pool, &sv,
                                0) == 0) {
                    if (atomic_fetch_add(held, 1) >= 3)
                        atomic_fetch_add(over, 1);
                    atomic_fetch_sub(held, 1);
                    srv_release(&s, (unsigned)c + 1, sv.slot);
                }
            _exit(0);
        }
    }
    while (wait(NULL) > 0)
        ;
    is_int(atomic_load(over), 0, "4 processes racing: max_conns 3 never "
           "exceeded");
    is_int(srv_active(&s, sv.slot), 0, "and all released: 0");
    shm_destroy(&s);
}

int
main(void)
{
    is_int(sizeof(struct shm_row_stats) % 64, 0,
           "a row's stats fill whole cache lines");
    test_layout(4, 3);
    test_layout(1, 1);
    test_layout(7, 5);
    test_layout(SHM_MAX_SERVERS, SHM_ROWS);
    test_bind();
    test_long_keys();
    test_rows();
    test_fork();
    test_crash_windows();
    return done_testing();
}
