/*
 * main.c: command-line entry point. Dispatches sub-commands; the daemon
 * wiring lives in agent.c.
 */
#include <stdio.h>
#include <string.h>

int main(int argc, char **argv)
{
    if (argc > 1 && strcmp(argv[1], "version") == 0) {
        printf("meterd %s\n", METERD_VERSION);
        return 0;
    }
    fprintf(stderr, "usage: meterd run|parse|aggregate|check|configcheck|status|health|version\n");
    return 2;
}
