/*
 * payload.c: freeing sink payloads (see sink.h). Headers may hold the API
 * key, so they are wiped before being freed.
 */
#include <stdlib.h>
#include <string.h>

#include "meterd/sink.h"

void md_payload_free(struct md_payload *p)
{
    if (!p)
        return;
    for (unsigned i = 0; i < p->nheaders; i++) {
        if (p->headers[i]) {
            explicit_bzero(p->headers[i], strlen(p->headers[i]));
            free(p->headers[i]);
        }
    }
    free(p->body);
    free(p->url);
    free(p);
}

void md_payload_list_free(struct md_payload *p)
{
    while (p) {
        struct md_payload *next = p->next;
        md_payload_free(p);
        p = next;
    }
}
