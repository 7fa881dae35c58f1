/*
 * curl_uv.h: libcurl's multi-socket interface driven by a libuv loop, the
 * one piece both HTTP clients of the agent stand on (the forwarder, and
 * the small GETs of uvfetch.h). It owns the CURLM, one uv_poll per socket
 * curl opens and one uv_timer for curl's timeouts; callers own their easy
 * handles and everything set on them (URL, body, headers, proxy, write
 * callback). Nothing blocks, and every callback runs on the loop thread.
 *
 * Each added transfer ends in exactly one done callback, unless it was
 * removed first: when it finishes, or at md_curl_uv_close. By then the
 * easy handle is out of the multi and is the caller's again, to clean up or
 * to add once more. The glue keeps CURLOPT_PRIVATE of an added handle for
 * itself.
 */
#ifndef METERD_CURL_UV_H
#define METERD_CURL_UV_H

#include <curl/curl.h>
#include <uv.h>

struct md_curl_uv;

/*
 * A transfer ended: rc is curl's result, CURLE_ABORTED_BY_CALLBACK when
 * md_curl_uv_close stopped it. ud is what md_curl_uv_add was given, arg
 * what md_curl_uv_new was given. Runs outside curl's own call stack, so it
 * may add, remove, and close.
 */
typedef void (*md_curl_uv_done_fn)(void *arg, CURL *easy, CURLcode rc, void *ud);
/* After each round of curl activity (a socket event or curl's timer), once its done calls ran. */
typedef void (*md_curl_uv_after_fn)(void *arg);
/* The last uv handle is closed and the glue freed. */
typedef void (*md_curl_uv_closed_fn)(void *arg);

/* after may be NULL. Takes a curl_global_init reference until closed. NULL on failure. */
struct md_curl_uv *md_curl_uv_new(uv_loop_t *loop, md_curl_uv_done_fn done,
                                  md_curl_uv_after_fn after, void *arg);
/* Start easy (set up by the caller); 0, -ESHUTDOWN once closing, -ENOMEM, -EIO. */
int md_curl_uv_add(struct md_curl_uv *c, CURL *easy, void *ud);
/* Stop easy without a done callback; nothing happens when it is not added (any more). */
void md_curl_uv_remove(struct md_curl_uv *c, CURL *easy);
/*
 * Report the transfers still added (done, CURLE_ABORTED_BY_CALLBACK),
 * release curl and close the uv handles; closed (may be NULL) runs from the
 * last close callback, so the loop must run afterwards. Not from inside a
 * curl callback (write, read, header).
 */
void md_curl_uv_close(struct md_curl_uv *c, md_curl_uv_closed_fn closed);

#endif
