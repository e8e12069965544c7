/* mr-forward.h: forwards toolbox requests to an HTTP upstream (a toolbox daemon, or a
 * port inside the toolbox for /proxy/{port}/...). Not installed.
 *
 * One MrForwarder per user (backend plugin or toolbox); it owns the HTTP client and
 * the requests in flight, and must be used from one thread: the one whose
 * thread-default context serves the requests (the runner's server thread, or
 * mock-runner-toolboxd's main thread).
 *
 * What a forwarded request gets (runner-api.md section 7.2 and 7.3):
 *  - request and response bodies streamed both ways, with backpressure;
 *  - headers copied without hop-by-hop ones, never X-Daytona-Authorization, with the
 *    client's address appended to X-Forwarded-For and Host set to the upstream;
 *  - a root-relative 3xx Location kept under the prefix the client used;
 *  - WebSocket upgrades tunnelled as raw bytes after the upstream's 101 (see
 *    mr-forward-tunnel.c for why);
 *  - 502 when the upstream cannot be reached (empty, or the common error body);
 *  - the client going away cancels the upstream exchange. */
#pragma once

#include <libsoup/soup.h>

#include "mr-toolbox-backend.h"

G_BEGIN_DECLS

typedef struct _MrForwarder MrForwarder;

/**
 * MrForwardFlags: (skip)
 * @MR_FORWARD_ERROR_BODY: answer 502 with the common error body (else an empty body,
 *   as the daemon's own /proxy route does)
 * @MR_FORWARD_LOGS_FOLLOW: the runner's special case for a plain-HTTP
 *   `/process/session/{sid}/command/{cid}/logs?follow=true`: dial the upstream's
 *   WebSocket and stream its messages as application/octet-stream
 */
typedef enum {
  MR_FORWARD_ERROR_BODY  = 1 << 0,
  MR_FORWARD_LOGS_FOLLOW = 1 << 1,
} MrForwardFlags;

/* Called (on the forwarder's thread) when the upstream could not be reached. */
typedef void (*MrForwardFailedFunc) (const GError *error, gpointer user_data);

MrForwarder *mr_forwarder_new (MrForwardFlags flags);
void         mr_forwarder_free (MrForwarder *self);
void         mr_forwarder_set_failed_func (MrForwarder *self, MrForwardFailedFunc func, gpointer user_data);
void         mr_forwarder_cancel_all (MrForwarder *self);
void         mr_forwarder_drop_connections (MrForwarder *self);
void         mr_forwarder_fail_all (MrForwarder *self, const GError *error);
guint        mr_forwarder_get_active (MrForwarder *self);
void         mr_forwarder_forward (MrForwarder *self, MrToolboxRequest *request,
                                   const char *base_url, const char *path);

gboolean     mr_forward_is_logs_follow (const char *path, const char *query, SoupMessageHeaders *headers);
gboolean     mr_forward_is_hop_by_hop (const char *name, SoupMessageHeaders *headers);
gboolean     mr_forward_probe_version (const char *base_url, guint timeout_sec, char **version, GError **error);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (MrForwarder, mr_forwarder_free)

G_END_DECLS
