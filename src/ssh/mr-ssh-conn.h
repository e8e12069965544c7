/* mr-ssh-conn.h: one SSH server connection, served on its own thread. Not installed.
 *
 * Both SSH servers of the project are built on it: the toolbox's own server (the
 * Daytona daemon's port 22220 role: processes, PTYs, sftp and port forwarding run
 * here) and the gateway plugin (which relays every channel to the toolbox's server).
 * What differs between them is a *role*: how clients authenticate and what stands at
 * the other end of each channel, a *peer*.
 *
 * The connection runs in two phases on its thread:
 *  1. key exchange and authentication, in libssh's blocking mode with a bound
 *     (MR_SSH_LOGIN_GRACE_SEC), the role deciding each attempt;
 *  2. a poll() loop in non-blocking mode: channel opens and requests are taken from
 *     libssh's message queue and handed to the role and peers, and data is pumped
 *     between each channel and its peer within the SSH windows, so that a slow side
 *     holds the other back instead of filling memory.
 *
 * Any libssh call may read the socket and queue messages or channel data as a side
 * effect, which no fd would then announce. So the loop only waits after a pass in which
 * nothing moved and no packet arrived on any session it drives (libssh's packet
 * counters tell).
 *
 * Rule for roles and peers: libssh callbacks (exit-status, signal...) only record;
 * every libssh call happens from the loop, never from inside a callback. */
#pragma once

#include <glib.h>
#include <poll.h>
#include <libssh/libssh.h>
#include <libssh/server.h>

G_BEGIN_DECLS

#define MR_SSH_LOGIN_GRACE_SEC 60
#define MR_SSH_IO_CHUNK (32 * 1024)

typedef struct _MrSshConn MrSshConn;
typedef struct _MrSshPeer MrSshPeer;
typedef struct _MrSshPeerClass MrSshPeerClass;

/* The fds a loop iteration waits on, and for how long. */
typedef struct {
  GArray *fds;          /* struct pollfd */
  int timeout_ms;       /* -1: no bound */
} MrSshPollSet;

void mr_ssh_poll_set_add (MrSshPollSet *set, int fd, short events);
void mr_ssh_poll_set_bound (MrSshPollSet *set, int timeout_ms);

typedef enum {
  MR_SSH_REQUEST_PTY,
  MR_SSH_REQUEST_ENV,
  MR_SSH_REQUEST_EXEC,
  MR_SSH_REQUEST_SHELL,
  MR_SSH_REQUEST_SUBSYSTEM,
  MR_SSH_REQUEST_WINDOW_CHANGE,
  MR_SSH_REQUEST_SIGNAL,
} MrSshRequestType;

/* A channel request from the client. */
typedef struct {
  MrSshRequestType type;
  const char *term;                 /* PTY */
  int cols, rows, px_width, px_height;  /* PTY, WINDOW_CHANGE */
  const char *name, *value;         /* ENV */
  const char *command;              /* EXEC */
  const char *subsystem;            /* SUBSYSTEM */
  const char *signal;               /* SIGNAL: the name without "SIG", e.g. "TERM" */
} MrSshRequest;

/* How the work behind a channel ended. */
typedef struct {
  gboolean has_status;
  int status;
  char *signal;                     /* name without "SIG", or NULL */
  gboolean core_dumped;
} MrSshExit;

void mr_ssh_exit_clear (MrSshExit *exit);

/* The other end of one channel. Every function is called on the connection's thread. */
struct _MrSshPeerClass {
  /* a channel request; FALSE (with a reason in @error, for the log) to refuse it */
  gboolean (*request)   (MrSshPeer *peer, const MrSshRequest *request, GError **error);
  /* client -> peer: how many bytes of @data were taken now (0: try later), -1 when the
   * peer will never take input again (the data is dropped) */
  gssize   (*write)     (MrSshPeer *peer, const guint8 *data, gsize len);
  void     (*write_eof) (MrSshPeer *peer);
  /* peer -> client: up to @len bytes; 0: nothing now; -1: no more output, ever */
  gssize   (*read)      (MrSshPeer *peer, guint8 *buf, gsize len, gboolean *is_stderr);
  /* TRUE once the peer has finished (its output ended too): fills @exit */
  gboolean (*finished)  (MrSshPeer *peer, MrSshExit *exit);
  /* adds the fds to wait on; @want_read: the channel has room for output */
  void     (*prepare)   (MrSshPeer *peer, MrSshPollSet *set, gboolean want_read);
  /* ends whatever still runs and frees the peer */
  void     (*free)      (MrSshPeer *peer);
};

struct _MrSshPeer {
  const MrSshPeerClass *klass;
};

/* What a server does with its connections. Called on the connection's thread. */
typedef struct {
  int auth_methods;      /* SSH_AUTH_METHOD_* announced to clients */
  /* authentication attempts: TRUE accepts. A refusal may set @banner, which the client
   * shows to its user. auth_pubkey is asked twice: @verified FALSE for the client's
   * "would this key do?" probe, TRUE once libssh checked the signature. */
  gboolean   (*auth_none)         (MrSshConn *conn, const char *user, char **banner);
  gboolean   (*auth_password)     (MrSshConn *conn, const char *user, const char *password, char **banner);
  gboolean   (*auth_pubkey)       (MrSshConn *conn, const char *user, ssh_key key, gboolean verified,
                                   char **banner);
  MrSshPeer *(*open_session)      (MrSshConn *conn, GError **error);
  MrSshPeer *(*open_direct_tcpip) (MrSshConn *conn, const char *host, guint16 port,
                                   const char *origin_host, guint16 origin_port, GError **error);
  /* optional: fds of the role's own (e.g. the upstream session) */
  void       (*prepare)           (MrSshConn *conn, MrSshPollSet *set);
  /* optional: after each wait; FALSE when the role's side is gone for good */
  gboolean   (*dispatch)          (MrSshConn *conn);
  /* optional: frees what the role attached to the connection */
  void       (*cleanup)           (MrSshConn *conn);
} MrSshRoleOps;

/* Takes @session (accepted, before key exchange) on socket @fd. */
MrSshConn  *mr_ssh_conn_new (ssh_session session, int fd, const char *peer_address,
                             const MrSshRoleOps *ops, gpointer role_data);
/* Serves the connection until it ends; run on the connection's own thread. */
void        mr_ssh_conn_run (MrSshConn *conn);
/* From any thread: makes mr_ssh_conn_run() return soon. */
void        mr_ssh_conn_interrupt (MrSshConn *conn);
void        mr_ssh_conn_free (MrSshConn *conn);

gpointer    mr_ssh_conn_get_role_data (MrSshConn *conn);
gpointer    mr_ssh_conn_get_data (MrSshConn *conn);
void        mr_ssh_conn_set_data (MrSshConn *conn, gpointer data);
const char *mr_ssh_conn_get_peer_address (MrSshConn *conn);
gboolean    mr_ssh_conn_is_interrupted (MrSshConn *conn);
/* fds that mr_ssh_conn_interrupt() shuts down too (e.g. an upstream socket) */
void        mr_ssh_conn_add_interrupt_fd (MrSshConn *conn, int fd);
void        mr_ssh_conn_remove_interrupt_fd (MrSshConn *conn, int fd);
/* Another session this connection's loop drives (the gateway's upstream): packets it
 * receives count as activity, so the loop does not wait while libssh holds them. */
void        mr_ssh_conn_watch_session (MrSshConn *conn, ssh_session session);
void        mr_ssh_conn_unwatch_session (MrSshConn *conn, ssh_session session);

G_END_DECLS
