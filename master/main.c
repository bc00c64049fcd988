/* main: the cerberus command line: VERB [-c FILE] [-p PIDFILE]. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "master.h"
#include "paths.h"

static void
usage(FILE *f)
{
    fprintf(f,
"usage: cerberus VERB [-c FILE] [-p PIDFILE]\n"
"\n"
"verbs:\n"
"  run               run the master in the foreground (systemd, containers)\n"
"  start             start as a daemon; returns once the workers serve\n"
"  stop [--graceful] stop (SIGTERM), or drain first (SIGQUIT)\n"
"  reload            validate the config, then switch to it (SIGHUP)\n"
"  status            show pid, uptime, generation, workers, listeners\n"
"  check             validate the config and print what it would serve\n"
"  reopen            reopen the log files (SIGUSR1)\n"
"\n"
"options:\n"
"  -c, --config FILE    config file (default %s/cerberus.conf)\n"
"  -p, --pid-file FILE  pid file (default: the config's pid_file)\n"
"  -g, --graceful       with stop: finish in-flight requests first\n"
"  -h, --help           this text\n"
"  -V, --version        print the version\n",
            CERB_SYSCONFDIR);
}

int
main(int argc, char **argv)
{
    static const struct option opts[] = {
        { "config", required_argument, NULL, 'c' },
        { "pid-file", required_argument, NULL, 'p' },
        { "graceful", no_argument, NULL, 'g' },
        { "help", no_argument, NULL, 'h' },
        { "version", no_argument, NULL, 'V' },
        { NULL, 0, NULL, 0 }
    };
    const char *conf = CERB_SYSCONFDIR "/cerberus.conf";
    const char *pid = NULL;
    bool graceful = false;
    int ch;

    while ((ch = getopt_long(argc, argv, "c:p:ghV", opts, NULL)) != -1) {
        switch (ch) {
        case 'c': conf = optarg; break;
        case 'p': pid = optarg; break;
        case 'g': graceful = true; break;
        case 'h': usage(stdout); return 0;
        case 'V': printf("cerberus %s\n", CERB_VERSION); return 0;
        default: usage(stderr); return 2;
        }
    }
    if (optind != argc - 1) {
        if (optind == argc)
            fprintf(stderr, "cerberus: a verb is required\n");
        else
            fprintf(stderr, "cerberus: one verb at a time\n");
        usage(stderr);
        return 2;
    }
    const char *verb = argv[optind];
    if (graceful && strcmp(verb, "stop") != 0) {
        fprintf(stderr, "cerberus: --graceful goes with stop\n");
        return 2;
    }
    if (strcmp(verb, "run") == 0)
        return master_run(conf, pid, false, -1);
    if (strcmp(verb, "start") == 0)
        return ctl_start(conf, pid);
    if (strcmp(verb, "stop") == 0)
        return ctl_stop(conf, pid, graceful);
    if (strcmp(verb, "reload") == 0)
        return ctl_reload(conf, pid);
    if (strcmp(verb, "status") == 0)
        return ctl_status(conf, pid);
    if (strcmp(verb, "check") == 0)
        return ctl_check(conf, pid);
    if (strcmp(verb, "reopen") == 0)
        return ctl_reopen(conf, pid);
    fprintf(stderr, "cerberus: unknown verb \"%s\"\n", verb);
    usage(stderr);
    return 2;
}
