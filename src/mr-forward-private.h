/* mr-forward-private.h: what the forwarder's files share. Not installed.
 *
 * mr-forward.c         plain HTTP exchanges (SoupSession) and the common plumbing
 * mr-forward-pipe.c    the request body as a GInputStream fed by "got-chunk"
 * mr-forward-tunnel.c  WebSocket upgrades, relayed as raw bytes after the 101
 * mr-forward-follow.c  the session-logs follow special case */
#pragma once

#include "mr-forward.h"

G_BEGIN_DECLS

/* The request body pipe ------------------------------------------------------------ */

#define MR_TYPE_FORWARD_PIPE (mr_forward_pipe_get_type ())
G_DECLARE_FINAL_TYPE (MrForwardPipe, mr_forward_pipe, MR, FORWARD_PIPE, GInputStream)

typedef void (*MrForwardPipeDrainFunc) (gpointer user_data);

MrForwardPipe *mr_forward_pipe_new (void);
void           mr_forward_pipe_push (MrForwardPipe *self, GBytes *bytes);
void           mr_forward_pipe_finish (MrForwardPipe *self);
void           mr_forward_pipe_discard (MrForwardPipe *self);
void           mr_forward_pipe_abort (MrForwardPipe *self);
gsize          mr_forward_pipe_get_queued (MrForwardPipe *self);
void           mr_forward_pipe_set_drain_func (MrForwardPipe *self, MrForwardPipeDrainFunc func, gpointer user_data);

/* One forwarded request ------------------------------------------------------------- */

typedef struct _MrForward MrForward;

struct _MrForward {
  gatomicrefcount ref;
  MrForwarder *owner;              /* NULL once cancelled by the owner */
  SoupSession *session;            /* the owner's, kept alive */
  MrForwardFlags flags;
  MrToolboxRequest *request;
  SoupServerMessage *msg;
  char *base_url;                  /* http://host:port */
  char *target;                    /* path and query on the upstream */
  GCancellable *cancellable;

  gboolean done;                   /* the server message is no longer ours */
  gboolean over;                   /* finished: cancelled, off the owner's list */
  gboolean body_done;              /* the request body has been read */
  gboolean responded;              /* status (and headers) are set on msg */
  gboolean waiting;                /* we paused msg to wait for the upstream */
  gboolean bp_paused;              /* we paused msg because the pipe is full */
  gulong got_chunk_id, got_body_id, finished_id, wrote_data_id;
  GSource *hangup_watch;

  /* plain HTTP */
  MrForwardPipe *pipe;
  SoupMessage *upstream;
  GInputStream *upstream_body;
  gsize in_flight;                 /* appended to msg, not yet written */
  gboolean reading;
  gboolean complete;

  /* tunnel (mr-forward-tunnel.c) and follow (mr-forward-follow.c) */
  gpointer mode_data;
  GDestroyNotify mode_data_free;
  void (*release) (MrForward *fwd);   /* the server message is let go */
  void (*stop) (MrForward *fwd);      /* the owner cancels a forward that outlives its message */
};

MrForward *mr_forward_ref (MrForward *fwd);
void       mr_forward_unref (MrForward *fwd);
void       mr_forward_fail (MrForward *fwd, guint status, const char *code, const char *message);
void       mr_forward_fail_gerror (MrForward *fwd, const GError *error);
void       mr_forward_respond (MrForward *fwd);
void       mr_forward_body_appended (MrForward *fwd);
void       mr_forward_abort_client (MrForward *fwd);
void       mr_forward_release_message (MrForward *fwd);
void       mr_forward_finish (MrForward *fwd);
void       mr_forward_copy_request_headers (MrForward *fwd, SoupMessageHeaders *to, gboolean keep_upgrade);
void       mr_forward_copy_response_headers (MrForward *fwd, SoupMessageHeaders *from, guint status, gboolean keep_upgrade);
void       mr_forward_upstream_failed (MrForward *fwd, const GError *error);
void       mr_forward_notify_unreachable (MrForward *fwd, const GError *error);

void       mr_forward_start_tunnel (MrForward *fwd);
void       mr_forward_start_follow (MrForward *fwd);
gboolean   mr_forward_is_upgrade (SoupMessageHeaders *headers);

G_END_DECLS
