/* conf: the configuration model, its defaults, its errors and its schema. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "addr.h"
#include "conf.h"
#include "log.h"
#include "tap.h"
#include "units.h"

static char path[256];

/* Writes text to a fresh temporary file; its name is in path. */
static int
write_conf(const char *text)
{
    const char *dir = getenv("TMPDIR");

    snprintf(path, sizeof(path), "%s/cerb-unit-conf-XXXXXX",
             dir && dir[0] ? dir : "/tmp");
    int fd = mkstemp(path);
    if (fd < 0) {
        diag("mkstemp %s: %s", path, strerror(errno));
        return -1;
    }
    size_t len = strlen(text);
    if (write(fd, text, len) != (ssize_t)len) {
        close(fd);
        return -1;
    }
    close(fd);
    return 0;
}

/* Loads text; NULL on error with every message joined in *msgs. */
static struct conf *
load(const char *text, char *msgs, size_t cap)
{
    struct conf_errors errs = { 0 };
    struct conf *c;

    msgs[0] = '\0';
    if (write_conf(text) < 0)
        return NULL;
    c = conf_load(path, &errs);
    size_t off = 0;
    for (size_t i = 0; i < errs.n && off < cap; i++)
        off += (size_t)snprintf(msgs + off, cap - off, "%s\n", errs.msg[i]);
    conf_errors_free(&errs);
    unlink(path);
    return c;
}

#define LISTENER "listeners = ( { name = \"web\"; address = \"127.0.0.1:8080\"; } );\n"

/* ---- the model and its defaults -------------------------------------- */

static void
test_defaults(void)
{
    char msgs[4096];
    struct conf *c = load(LISTENER, msgs, sizeof(msgs));

    if (!ok(c != NULL, "a minimal config loads")) {
        diag("%s", msgs);
        return;
    }
    long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
    long want = ncpu < 1 ? 1
              : ncpu > CERB_MAX_WORKERS ? CERB_MAX_WORKERS : ncpu;
    is_int(c->workers, want, "workers \"auto\" is the number of CPUs");
    ok(c->workers >= 1 && c->workers <= 64, "capped at 64");
    ok(!c->allow_root && c->user == NULL && c->group == NULL,
       "no user, no group, allow_root false");
    is_str(c->pid_file, "/run/cerberus.pid", "pid_file default");
    ok(c->error_log == NULL, "error_log unset");
    is_int(c->log_level, LL_NOTICE, "log_level notice");
    is_int(c->drain_timeout, 30000, "drain_timeout 30s");
    ok(c->state_dir != NULL && strlen(c->state_dir) > 13 &&
       strcmp(c->state_dir + strlen(c->state_dir) - 13, "/lib/cerberus") == 0,
       "state_dir ends in /lib/cerberus (%s)", c->state_dir);
    ok(c->admin == NULL && c->npools == 0 && c->nroutes == 0,
       "no admin, pools or routes");
    is_str(c->path, path, "the path as given");

    is_int(c->nlisteners, 1, "one listener");
    struct conf_listener *l = &c->listeners[0];
    is_str(l->name, "web", "its name");
    is_str(l->address, "127.0.0.1:8080", "its address text");
    is_int(addr_port(&l->addr), 8080, "its parsed address");
    is_int(l->protocol, PROTO_HTTP, "protocol http");
    ok(l->pool_name == NULL && l->pool == NULL, "no pool");
    is_int(l->header_timeout, 10000, "header_timeout 10000 ms");
    is_int(l->body_timeout, 60000, "body_timeout 60000 ms");
    is_int(l->keepalive_timeout, 75000, "keepalive_timeout 75000 ms");
    is_int(l->send_timeout, 60000, "send_timeout 60000 ms");
    is_int(l->max_header_size, 32768, "max_header_size 32768");
    is_int(l->max_connections, 0, "max_connections auto (0: the master sizes it)");
    is_int(l->backlog, 511, "backlog 511");
    is_int(l->src.line, 1, "the listener's line");
    ok(conf_listener_find(c, "web") == l && conf_listener_find(c, "x") == NULL,
       "conf_listener_find");
    conf_free(c);
    conf_free(NULL);
}

static void
test_model(void)
{
    char msgs[4096];
    struct conf *c = load(
        "workers = 3;\n"
        "log_level = \"debug\";\n"
        "drain_timeout = 5;\n"
        "listeners = (\n"
        "  { name = \"web\"; address = \"*:8080\"; header_timeout = \"1m30s\";"
        " max_header_size = \"64k\"; },\n"
        "  { name = \"db\"; address = \"[::1]:5433\"; protocol = \"tcp\";"
        " pool = \"pg\"; }\n"
        ");\n"
        "pools = (\n"
        "  { name = \"app\"; servers = ( { address = \"127.0.0.1:9001\"; },\n"
        "      { address = \"127.0.0.1:9002\"; weight = 5; backup = true;"
        " state = \"drain\"; } );\n"
        "    health = { }; sticky = { cookie = \"srv\"; };"
        " circuit_breaker = { }; },\n"
        "  { name = \"pg\"; balance = \"hash\"; key = \"header:X-User\";"
        " servers = ( { address = \"[::1]:5432\"; } ); }\n"
        ");\n"
        "routes = (\n"
        "  { path_prefix = \"/api/\"; pool = \"app\"; },\n"
        "  { name = \"hi\"; path_exact = \"/\"; methods = [\"GET\", \"HEAD\"];"
        " return = { body = \"hi\\n\"; }; },\n"
        "  { path_prefix = \"/old\"; listeners = [\"web\"];"
        " return = { location = \"/new\"; }; },\n"
        "  { headers = { X-A = \"~^a\"; X-B = \"b\"; };"
        " return = { status = 404; }; }\n"
        ");\n", msgs, sizeof(msgs));

    if (!ok(c != NULL, "a full config loads")) {
        diag("%s", msgs);
        return;
    }
    is_int(c->workers, 3, "workers 3");
    is_int(c->log_level, LL_DEBUG, "log_level debug");
    is_int(c->drain_timeout, 5000, "a bare number of seconds");
    is_int(c->listeners[0].header_timeout, 90000, "1m30s");
    is_int(c->listeners[0].max_header_size, 65536, "64k");
    is_int(c->listeners[0].index, 0, "listener index 0");
    is_int(c->listeners[1].index, 1, "listener index 1");
    ok(c->listeners[1].protocol == PROTO_TCP &&
       c->listeners[1].pool == conf_pool_find(c, "pg") &&
       c->listeners[1].pool != NULL, "the tcp listener's pool is resolved");

    is_int(c->npools, 2, "two pools");
    struct conf_pool *p = &c->pools[0];
    is_int(p->balance, BAL_ROUND_ROBIN, "balance round_robin by default");
    is_str(conf_balance_name(p->balance), "round_robin", "conf_balance_name");
    ok(p->retries == 1 && p->keepalive == 32 && p->connect_timeout == 5000 &&
       p->read_timeout == 60000 && p->send_timeout == 60000 &&
       p->max_fails == 1 && p->fail_timeout == 10000 && p->slow_start == 0 &&
       p->retry_timeout == 0 && p->retry_buffer == 65536,
       "pool defaults");
    is_int(p->nservers, 2, "two servers");
    ok(p->servers[0].weight == 1 && !p->servers[0].backup &&
       p->servers[0].max_conns == 0 && p->servers[0].state == SRV_UP,
       "server defaults");
    ok(p->servers[1].weight == 5 && p->servers[1].backup &&
       p->servers[1].state == SRV_DRAIN, "server settings");
    ok(p->health != NULL && p->health->type == HC_HTTP &&
       strcmp(p->health->path, "/health") == 0 &&
       strcmp(p->health->method, "GET") == 0 && p->health->interval == 2000 &&
       p->health->timeout == 1000 && p->health->rise == 2 &&
       p->health->fall == 3 && p->health->nexpect == 0 &&
       p->health->initial == 0, "an empty health group: its defaults");
    ok(p->sticky != NULL && strcmp(p->sticky->cookie, "srv") == 0 &&
       strcmp(p->sticky->path, "/") == 0 && p->sticky->max_age == 0 &&
       !p->sticky->secure && p->sticky->httponly &&
       p->sticky->samesite == SAMESITE_LAX, "sticky defaults");
    ok(p->circuit_breaker != NULL && p->circuit_breaker->failures == 5 &&
       p->circuit_breaker->open_for == 30000, "circuit_breaker defaults");
    ok(c->pools[1].balance == BAL_HASH &&
       strcmp(c->pools[1].key, "header:X-User") == 0 &&
       c->pools[1].health == NULL, "hash pool with a key, no health");

    is_int(c->nroutes, 4, "four routes");
    is_str(c->routes[0].name, "route1", "an unnamed route is route1");
    is_str(c->routes[1].name, "hi", "a named route keeps its name");
    is_str(c->routes[2].name, "route3", "and the third is route3");
    ok(c->routes[0].pool == &c->pools[0], "route pool resolved");
    ok(c->routes[1].ret != NULL && c->routes[1].ret->status == 200 &&
       c->routes[1].ret->body_len == 3, "return status defaults to 200");
    ok(c->routes[2].ret != NULL && c->routes[2].ret->status == 302 &&
       strcmp(c->routes[2].ret->location, "/new") == 0,
       "with a location it defaults to 302");
    is_int(c->routes[3].ret->status, 404, "an explicit status");
    ok(c->routes[1].nmethods == 2 && strcmp(c->routes[1].methods[1], "HEAD") ==
       0, "methods");
    ok(c->routes[0].on_listener[0] == 1 && c->routes[0].on_listener[1] == 0,
       "a route without listeners applies to the http listeners only");
    ok(c->routes[2].on_listener[0] == 1, "listeners = [\"web\"]");
    ok(c->routes[3].nheaders == 2 && c->routes[3].header_re[0] != NULL &&
       c->routes[3].header_re[1] == NULL,
       "header match \"~^a\" is a compiled regex, \"b\" is not");
    conf_free(c);
}

/* ---- errors: exact text with file and line --------------------------- */

static void
error_is(const char *name, const char *text, const char *want_fmt)
{
    char msgs[8192], want[8192];
    struct conf *c = load(text, msgs, sizeof(msgs));

    if (!ok(c == NULL, "%s: rejected", name)) {
        conf_free(c);
        return;
    }
    /* want_fmt has one %s per line for the file name. */
    snprintf(want, sizeof(want), want_fmt, path, path, path, path);
    is_str(msgs, want, "  with the exact message");
}

static void
test_errors(void)
{
    error_is("duplicate pool names", LISTENER
             "pools = (\n"
             "  { name = \"app\"; servers = ( { address = \"127.0.0.1:1\"; } ); },\n"
             "  { name = \"app\"; servers = ( { address = \"127.0.0.1:2\"; } ); }\n"
             ");\n",
             "%s:4: pools[1]: duplicate pool name \"app\" (first at line 3)\n");
    error_is("duplicate server address", LISTENER
             "pools = ( { name = \"app\"; servers = (\n"
             "  { address = \"[::1]:9001\"; },\n"
             "  { address = \"[0::1]:9001\"; weight = 2; }\n"
             "); } );\n",
             "%s:4: pools[0].servers[1]: server [0::1]:9001 is already in "
             "this pool (line 3)\n");
    error_is("hash without key", LISTENER
             "pools = ( { name = \"app\"; balance = \"hash\";\n"
             "  servers = ( { address = \"127.0.0.1:1\"; } ); } );\n",
             "%s:2: pools[0]: balance \"hash\" needs a key (\"uri\", "
             "\"header:NAME\", \"cookie:NAME\" or \"query:NAME\")\n");
    error_is("key without hash", LISTENER
             "pools = ( { name = \"app\"; key = \"uri\";\n"
             "  servers = ( { address = \"127.0.0.1:1\"; } ); } );\n",
             "%s:2: pools[0]: key is only used with balance \"hash\"\n");
    error_is("sticky with cookie and source", LISTENER
             "pools = ( { name = \"app\"; servers = ( { address = \"127.0.0.1:1\"; } );\n"
             "  sticky = { cookie = \"s\"; source = \"ip\"; }; } );\n",
             "%s:3: pools[0].sticky: set exactly one of cookie or source\n");
    error_is("sticky path with a semicolon", LISTENER
             "pools = ( { name = \"app\"; servers = ( { address = \"127.0.0.1:1\"; } );\n"
             "  sticky = { cookie = \"s\"; path = \"/a;b\"; }; } );\n",
             "%s:3: pools[0].sticky.path: invalid cookie path \"/a;b\" (it "
             "starts with \"/\" and has no ';', ',', quote or space)\n");
    error_is("sticky secret too short", LISTENER
             "pools = ( { name = \"app\"; servers = ( { address = \"127.0.0.1:1\"; } );\n"
             "  sticky = { cookie = \"s\"; secret = \"short\"; }; } );\n",
             "%s:3: pools[0].sticky.secret: too short (at least 16 "
             "characters)\n");
    error_is("sticky secret with source", LISTENER
             "pools = ( { name = \"app\"; servers = ( { address = \"127.0.0.1:1\"; } );\n"
             "  sticky = { source = \"ip\"; secret = \"0123456789abcdef\"; }; } );\n",
             "%s:3: pools[0].sticky.secret: only used with cookie\n");
    error_is("fail_status outside 500-599", LISTENER
             "pools = ( { name = \"app\"; fail_status = [ 404 ];\n"
             "  servers = ( { address = \"127.0.0.1:1\"; } ); } );\n",
             "%s:2: pools[0].fail_status: 404 is out of range (500 to 599)\n");
    error_is("admin off loopback without a token", LISTENER
             "admin = { address = \"0.0.0.0:9901\"; };\n",
             "%s:2: admin.address: 0.0.0.0:9901 is not a loopback address; "
             "set a token to serve the admin API there\n");
    error_is("redirect_https without a TLS listener",
             "listeners = ( { name = \"web\"; address = \"127.0.0.1:8080\";"
             " redirect_https = true; } );\n",
             "%s:1: listeners[0]: redirect_https needs a listener with tls to "
             "redirect to\n");
    error_is("tls on a tcp listener",
             "listeners = ( { name = \"db\"; address = \"127.0.0.1:5433\";"
             " protocol = \"tcp\"; pool = \"p\";\n"
             "  tls = { certificates = ( { cert = \"/nonexistent.pem\";"
             " key = \"/nonexistent.key\"; } ); }; } );\n"
             "pools = ( { name = \"p\"; servers = ( { address = \"127.0.0.1:1\"; } ); } );\n",
             "%s:1: listeners[0]: tls is for http listeners (a tcp listener "
             "relays bytes as they are)\n"
             "%s:2: listeners[0].tls.certificates[0].cert: cannot open "
             "/nonexistent.pem: No such file or directory\n"
             "%s:2: listeners[0].tls.certificates[0].key: cannot open "
             "/nonexistent.key: No such file or directory\n");
    {
        /* A timeout over the interval is accepted (HAProxy and Envoy do);
         * the checker never runs two checks of a server at once. */
        char msgs[4096];
        struct conf *c = load(LISTENER
            "pools = ( { name = \"app\"; servers = ( { address = \"127.0.0.1:1\"; } );\n"
            "  health = { interval = \"1s\"; timeout = \"1500ms\"; }; } );\n",
            msgs, sizeof(msgs));
        if (!ok(c != NULL, "health timeout over interval is accepted"))
            diag("%s", msgs);
        else
            is_int((int)c->pools[0].health->timeout, 1500, "timeout kept");
        conf_free(c);
    }
    error_is("route with two path kinds", LISTENER
             "routes = (\n"
             "  { path_prefix = \"/a\"; path_exact = \"/a\"; return = { }; }\n"
             ");\n",
             "%s:3: routes[0]: use only one of path_prefix, path_exact and "
             "path_regex\n");
    error_is("invalid header regex", LISTENER
             "routes = (\n"
             "  { headers = { X-A = \"~(a\"; }; return = { }; }\n"
             ");\n",
             "%s:3: routes[0]: invalid regular expression at offset 2: missing "
             "closing parenthesis\n");
    error_is("methods with a space", LISTENER
             "routes = (\n"
             "  { methods = [\"GET\", \"GE T\"]; return = { }; }\n"
             ");\n",
             "%s:3: routes[0].methods: invalid method \"GE T\"\n");
    error_is("return location with status 200", LISTENER
             "routes = (\n"
             "  { return = { status = 200;\n"
             "               location = \"/x\"; }; }\n"
             ");\n",
             "%s:3: routes[0].return: location needs a redirect status (301, "
             "302, 303, 307 or 308), not 200\n");
    error_is("tcp listener with an unknown pool",
             "listeners = ( { name = \"db\"; address = \"127.0.0.1:5432\";\n"
             "  protocol = \"tcp\"; pool = \"nope\"; } );\n",
             "%s:1: listeners[0]: pool \"nope\" is not defined\n");
    error_is("several errors, in file order",
             "listeners = (\n"
             "  { name = \"a\"; address = \"127.0.0.1:1\"; body_timeout = \"0s\"; },\n"
             "  { name = \"a\"; address = \"127.0.0.1:1\"; }\n"
             ");\n",
             "%s:2: listeners[0].body_timeout: 0s is out of range (1ms to 1d)\n"
             "%s:3: listeners[1]: duplicate listener name \"a\" (first at line 2)\n"
             "%s:3: listeners[1]: address 127.0.0.1:1 is already used by "
             "listener \"a\" (line 2)\n");
    error_is("an overflowing duration",
             "drain_timeout = \"200000000000d\";\n" LISTENER,
             "%s:1: drain_timeout: invalid duration \"200000000000d\": "
             "duration too large\n");

    char msgs[256];
    struct conf_errors errs = { 0 };
    ok(conf_load("/nonexistent/cerberus.conf", &errs) == NULL && errs.n == 1 &&
       strcmp(errs.msg[0], "/nonexistent/cerberus.conf: cannot read: No such "
              "file or directory") == 0, "a missing file");
    conf_errors_free(&errs);
    ok(errs.n == 0 && errs.msg == NULL, "conf_errors_free resets");
    ok(load("listeners = ( { name = \"web\"; address = ; } );\n", msgs,
            sizeof(msgs)) == NULL && strstr(msgs, ":1: syntax error") != NULL,
       "a syntax error names its line");
}

/* ---- the schema ------------------------------------------------------ */

struct walk {
    int nkeys;
    int missing_sub;
    int bad_default;
    char names[512][64];
    int nnames;
};

static void
walk_add(struct walk *w, const char *name)
{
    for (int i = 0; i < w->nnames; i++)
        if (strcmp(w->names[i], name) == 0)
            return;
    if (w->nnames < 512)
        snprintf(w->names[w->nnames++], sizeof(w->names[0]), "%s", name);
}

/* The default text must read as a value of the key's kind, in range. */
static int
default_ok(const struct conf_key *k, const char *where)
{
    const char *why = "";
    int64_t v = 0;
    int r = 0, ranged = 1;

    switch (k->kind) {
    case CK_INT:
        if ((k->flags & CF_AUTO) && strcmp(k->def, "auto") == 0) {
            ranged = 0;
        } else {
            char *end;
            errno = 0;
            v = strtoll(k->def, &end, 10);
            r = *end != '\0' || end == k->def || errno ? -1 : 0;
            why = "not a number";
        }
        break;
    case CK_DURATION:
        r = unit_duration_parse(k->def, &v, &why);
        break;
    case CK_SIZE:
        r = unit_size_parse(k->def, &v, &why);
        break;
    case CK_BOOL:
        r = strcmp(k->def, "true") == 0 || strcmp(k->def, "false") == 0
            ? 0 : -1;
        why = "not true or false";
        ranged = 0;
        break;
    case CK_ENUM:
        r = -1;
        why = "not one of the choices";
        for (int i = 0; k->choices && k->choices[i]; i++)
            if (strcmp(k->choices[i], k->def) == 0)
                r = 0;
        ranged = 0;
        break;
    case CK_ADDR: {
        struct addr a;
        char err[128];
        r = addr_parse(k->def, &a, (unsigned)k->min, err, sizeof(err));
        why = "not an address";
        ranged = 0;
        break;
    }
    case CK_INTLIST: {
        /* "500, 502": numbers separated by commas, each in range */
        const char *q = k->def;
        why = "not numbers separated by commas";
        ranged = 0;
        for (;;) {
            char *end;
            errno = 0;
            v = strtoll(q, &end, 10);
            if (end == q || errno) {
                r = -1;
                break;
            }
            if (!(k->min == 0 && k->max == 0) && (v < k->min || v > k->max)) {
                r = -1;
                why = "out of its own range";
                break;
            }
            while (*end == ' ')
                end++;
            if (*end == '\0')
                break;
            if (*end != ',') {
                r = -1;
                break;
            }
            q = end + 1;
        }
        break;
    }
    case CK_STR:
        r = (k->flags & CF_NONEMPTY) && k->def[0] == '\0' ? -1 : 0;
        why = "empty";
        ranged = 0;
        break;
    default:
        r = -1;
        why = "a default for a kind that takes none";
    }
    if (r == 0 && ranged && !(k->min == 0 && k->max == 0) &&
        (v < k->min || v > k->max)) {
        r = -1;
        why = "out of its own range";
    }
    if (r != 0)
        diag("%s: default \"%s\": %s", where, k->def, why);
    return r == 0;
}

static void
walk(const struct conf_section *sec, const char *prefix, struct walk *w,
     int depth)
{
    for (const struct conf_key *k = sec->keys; k->name != NULL; k++) {
        char where[256];
        snprintf(where, sizeof(where), "%s%s%s", prefix, prefix[0] ? "." : "",
                 k->name);
        w->nkeys++;
        walk_add(w, k->name);
        if (k->def != NULL && !default_ok(k, where))
            w->bad_default++;
        if (k->kind == CK_GROUP || k->kind == CK_LIST) {
            if (k->sub == NULL || k->sub->keys == NULL || depth > 8) {
                diag("%s: a group or list without a section", where);
                w->missing_sub++;
                continue;
            }
            walk(k->sub, where, w, depth + 1);
        }
    }
}

static void
test_schema(void)
{
    static struct walk w;
    const struct conf_section *root = conf_root_section();

    walk(root, "", &w, 0);
    ok(w.nkeys > 60, "the schema has %d keys (%d names)", w.nkeys, w.nnames);
    is_int(w.missing_sub, 0, "every group and list has its section");
    is_int(w.bad_default, 0, "every default parses as its kind, in range");
    is_str(conf_enum_name(root, "log_level", LL_WARN), "warn",
           "conf_enum_name");

    /* Every section present with nothing set: all of its defaults apply. */
    char msgs[4096];
    struct conf *c = load(
        "admin = { };\n" LISTENER
        "pools = ( { name = \"p\"; servers = ( { address = \"127.0.0.1:1\"; } );"
        " health = { }; sticky = { source = \"ip\"; };"
        " circuit_breaker = { }; } );\n"
        "routes = ( { return = { }; } );\n", msgs, sizeof(msgs));
    if (!ok(c != NULL, "every section with only its defaults loads"))
        diag("%s", msgs);
    else
        ok(c->admin != NULL && addr_port(&c->admin->addr) == 9901 &&
           strcmp(c->admin->address, "127.0.0.1:9901") == 0,
           "admin address default");
    conf_free(c);

    /* Every key is documented in the man page. */
    const char *src = getenv("CERB_SRCDIR");
    char man[4096];
    snprintf(man, sizeof(man), "%s/man/cerberus.conf.5", src ? src : ".");
    FILE *f = fopen(man, "r");
    if (f == NULL) {
        skip("%s: %s (not written yet)", man, strerror(errno));
        return;
    }
    static char seen[512];
    char line[1024];
    memset(seen, 0, sizeof(seen));
    while (fgets(line, sizeof(line), f) != NULL) {
        size_t l = strlen(line);
        while (l > 0 && (line[l - 1] == '\n' || line[l - 1] == ' ' ||
                         line[l - 1] == '\t' || line[l - 1] == '\r'))
            line[--l] = '\0';
        if (strncmp(line, ".B ", 3) != 0)
            continue;
        const char *name = line + 3;
        while (*name == ' ')
            name++;
        for (int i = 0; i < w.nnames; i++)
            if (strcmp(w.names[i], name) == 0)
                seen[i] = 1;
    }
    fclose(f);
    int missing = 0;
    for (int i = 0; i < w.nnames; i++)
        if (!seen[i]) {
            diag("%s: no line \".B %s\"", man, w.names[i]);
            missing++;
        }
    is_int(missing, 0, "every key name has a \".B name\" line in "
           "cerberus.conf.5");
}

/* The shipped example configuration loads as it is. */
static void
test_shipped(void)
{
    const char *src = getenv("CERB_SRCDIR");
    char file[4096];
    struct conf_errors errs = { 0 };

    snprintf(file, sizeof(file), "%s/etc/cerberus.conf", src ? src : ".");
    if (access(file, R_OK) != 0) {
        skip("%s: not found", file);
        return;
    }
    struct conf *c = conf_load(file, &errs);
    if (!ok(c != NULL, "etc/cerberus.conf loads"))
        for (size_t i = 0; i < errs.n; i++)
            diag("%s", errs.msg[i]);
    conf_errors_free(&errs);
    conf_free(c);
}

/* ---- did you mean, and methods ------------------------------------------ */

static void
test_nearest(void)
{
    static const char *const names[] = {
        "keepalive_timeout", "body_timeout", "header_timeout", "tls", "ttl",
        "name", "weight", NULL
    };
    static const char *const levels[] = {
        "debug", "info", "notice", "warn", "error", NULL
    };
    const char *n;
    char hint[160];

#define NEAR(w) conf_nearest((w), names, sizeof(*names))
    n = NEAR("keepalive_timout");
    is_str(n ? n : "(null)", "keepalive_timeout", "one deletion");
    n = NEAR("wieght");
    is_str(n ? n : "(null)", "weight", "a transposition is one edit");
    n = NEAR("body_timeuot");
    is_str(n ? n : "(null)", "body_timeout", "a transposition in a long name");
    ok(NEAR("keepalive_tmieuotx") == NULL, "three edits: nothing");
    ok(NEAR("tsl") == NULL, "as near tls as ttl: nothing (no clear winner)");
    ok(NEAR("nmae") != NULL && strcmp(NEAR("nmae"), "name") == 0,
       "a four-letter name, one edit");
    ok(NEAR("nm") == NULL, "two letters: nobody's typo");
    ok(NEAR("name") == NULL, "a valid name has no suggestion");
    ok(NEAR("frobnicate") == NULL, "far from everything");
    n = conf_nearest("NAME", names, sizeof(*names));
    is_str(n ? n : "(null)", "name", "a case difference, however far");
    n = conf_nearest("infp", levels, sizeof(*levels));
    is_str(n ? n : "(null)", "info", "an enum value");
#undef NEAR

    ok(conf_method_known("GET", hint, sizeof(hint)), "GET is known");
    ok(conf_method_known("PATCH", hint, sizeof(hint)), "PATCH is known");
    ok(conf_method_known("CONNECT", hint, sizeof(hint)) &&
       conf_method_known("TRACE", hint, sizeof(hint)),
       "CONNECT and TRACE are known");
    ok(!conf_method_known("GETT", hint, sizeof(hint)), "GETT is not");
    is_str(hint, " (did you mean \"GET\"?)", "... GET is suggested");
    ok(!conf_method_known("get", hint, sizeof(hint)), "get is not");
    is_str(hint, " (did you mean \"GET\"?)", "... methods are case-sensitive");
    ok(!conf_method_known("PROPFIND", hint, sizeof(hint)),
       "extension methods are refused");
    is_str(hint, " (expected one of GET, HEAD, POST, PUT, DELETE, CONNECT, "
           "OPTIONS, TRACE, PATCH)", "... with the list");
}

int
main(void)
{
    test_defaults();
    test_model();
    test_errors();
    test_schema();
    test_shipped();
    test_nearest();
    return done_testing();
}
