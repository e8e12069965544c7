/* ssh-libssh: the runner's SSH gateway (toolbox-api.md 5.2 and 5.3), loaded when
 * SSH_GATEWAY_ENABLE=true.
 *
 * It listens on SSH_GATEWAY_PORT (default 2220) with the host key at SSH_HOST_KEY_PATH
 * (generated and saved when missing) and lets clients in two ways, as Daytona users
 * meet them:
 *  - the public gateway's: the user name is an access token from
 *    POST /sandboxes/{id}/ssh-access ("none" authentication, as the gateway's
 *    NoClientAuth);
 *  - the runner gateway's: the user name is the sandbox id and the key must be the one
 *    in SSH_PUBLIC_KEY (an authorized_keys line, base64-encoded as Daytona passes it,
 *    or plain).
 * Passwords are always refused. The sandbox must exist and be started. A refused
 * connection gets a banner with the reason and one line in the log.
 *
 * Once in, the client's channels are relayed to the toolbox's own SSH server (the
 * daemon's port 22220), reached through the toolbox backend's connect_port(): one code
 * path for every backend (in process for toolbox-local, the container's daemon for the
 * others).
 *
 * A connection lives as long as its sandbox runs: when the sandbox stops or is destroyed,
 * its connections are closed, as a Daytona sandbox's end with its container (the
 * daemon's SSH server goes away with it).
 *
 * Threading: the SSH server runs on its own threads (src/ssh/mr-ssh-server.h). Tokens
 * are checked there (the store is thread-safe); what touches the sandbox or toolbox
 * plugins runs on the runner's thread (call_on_runner()), waited for with a bound and
 * abandoned when the gateway stops. */
#include <string.h>
#include <unistd.h>
#include <fcntl.h>
#include <sys/socket.h>

#include <gio/gio.h>
#include <glib-unix.h>

#include "mock-runner.h"
#include "mr-runner-private.h"
#include "ssh/mr-ssh-server.h"
#include "ssh/mr-toolbox-ssh.h"
#include "ssh-relay.h"

#define DEFAULT_PORT 2220
#define RUNNER_CALL_TIMEOUT_SEC 40

#define MR_TYPE_SSH_LIBSSH (mr_ssh_libssh_get_type ())
G_DECLARE_FINAL_TYPE (MrSshLibssh, mr_ssh_libssh, MR, SSH_LIBSSH, GObject)

/* What connection threads share with the plugin; outlives it while calls are pending. */
typedef struct {
  gatomicrefcount ref;
  GMutex lock;
  GCond cond;
  gboolean stopping;
  MrRunner *runner;              /* used on the runner's thread only, while !stopping */
  GMainContext *context;
  MrSshAccessStore *tokens;      /* thread-safe; lives as long as the runner */
  ssh_key authorized_key;        /* SSH_PUBLIC_KEY, or NULL; read-only */
  GHashTable *admitted;          /* MrSshConn * -> its sandbox id; under lock */
} Shared;

struct _MrSshLibssh {
  GObject parent_instance;
  MrRunner *runner;
  Shared *shared;
  MrSshServer *server;
  guint16 port;
  gulong state_handler;
};

static void plugin_iface_init (MrPluginInterface *iface);
static void ssh_iface_init (MrSshBackendInterface *iface);

G_DEFINE_FINAL_TYPE_WITH_CODE (MrSshLibssh, mr_ssh_libssh, G_TYPE_OBJECT,
                               G_IMPLEMENT_INTERFACE (MR_TYPE_PLUGIN, plugin_iface_init)
                               G_IMPLEMENT_INTERFACE (MR_TYPE_SSH_BACKEND, ssh_iface_init))

static Shared *
shared_ref (Shared *shared)
{
  g_atomic_ref_count_inc (&shared->ref);
  return shared;
}

static void
shared_unref (Shared *shared)
{
  if (!g_atomic_ref_count_dec (&shared->ref))
    return;
  if (shared->authorized_key)
    ssh_key_free (shared->authorized_key);
  g_hash_table_unref (shared->admitted);
  g_main_context_unref (shared->context);
  g_mutex_clear (&shared->lock);
  g_cond_clear (&shared->cond);
  g_free (shared);
}

/* Calls into the runner's thread ---------------------------------------------------- */

typedef enum {
  CALL_CHECK_SANDBOX,     /* in: sandbox_id; out: ok, reason */
  CALL_CONNECT_TOOLBOX,   /* out: fd, reason */
} CallKind;

typedef struct {
  gatomicrefcount ref;
  Shared *shared;
  CallKind kind;
  char *sandbox_id;
  gboolean done;
  gboolean ok;
  int fd;
  char *reason;
} Call;

static void
call_unref (Call *call)
{
  if (!g_atomic_ref_count_dec (&call->ref))
    return;
  if (call->fd >= 0)
    close (call->fd);
  shared_unref (call->shared);
  g_free (call->sandbox_id);
  g_free (call->reason);
  g_free (call);
}

static void
check_sandbox (MrRunner *runner, Call *call)
{
  g_autoptr(MrSandbox) sandbox = NULL;

  if (mr_runner_get_option_bool (runner, "TOOLBOX_ANY_SANDBOX", FALSE))
    {
      call->ok = TRUE;
      return;
    }
  sandbox = mr_sandbox_backend_get (mr_runner_get_sandbox_backend (runner), call->sandbox_id);
  if (!sandbox->exists || sandbox->state == MR_SANDBOX_STATE_DESTROYED)
    call->reason = g_strdup_printf ("sandbox %s not found", call->sandbox_id);
  else if (sandbox->state != MR_SANDBOX_STATE_STARTED)
    call->reason = g_strdup_printf ("sandbox %s is not started (state: %s)", call->sandbox_id,
                                    mr_sandbox_state_to_string (sandbox->state));
  else
    call->ok = TRUE;
}

static void
on_splice_done (GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_io_stream_splice_finish (result, NULL);
}

/* A socket to port 22220 of the toolbox, whatever stream the backend gives */
static void
connect_toolbox (MrRunner *runner, Call *call)
{
  MrToolboxBackend *toolbox = mr_runner_get_toolbox_backend (runner);
  g_autoptr(GError) error = NULL;
  g_autoptr(GIOStream) stream = mr_toolbox_backend_connect_port (toolbox, MR_TOOLBOX_SSH_PORT, NULL, &error);
  int pair[2];

  if (stream == NULL)
    {
      call->reason = g_strdup_printf ("cannot reach the toolbox's SSH server: %s", error->message);
      return;
    }
  if (G_IS_SOCKET_CONNECTION (stream))
    {
      call->fd = fcntl (g_socket_get_fd (g_socket_connection_get_socket (G_SOCKET_CONNECTION (stream))),
                        F_DUPFD_CLOEXEC, 3);
      /* our copy keeps the connection open when the stream closes its own; it stays
       * non-blocking, as libssh needs (it writes only when poll says it can) */
      call->ok = call->fd >= 0;
      if (!call->ok)
        call->reason = g_strdup ("cannot duplicate the toolbox socket");
      return;
    }
  /* any other stream (an HTTP upgrade, a docker attach...): bridge it to a socket pair,
   * spliced on the runner's context */
  if (socketpair (AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, pair) != 0)
    {
      call->reason = g_strdup ("cannot create a socket pair");
      return;
    }
  {
    g_autoptr(GSocket) socket = g_socket_new_from_fd (pair[1], NULL);
    g_autoptr(GSocketConnection) connection = socket ? g_socket_connection_factory_create_connection (socket) : NULL;
    if (connection == NULL)
      {
        close (pair[0]);
        if (socket == NULL)
          close (pair[1]);
        call->reason = g_strdup ("cannot bridge the toolbox stream");
        return;
      }
    g_io_stream_splice_async (stream, G_IO_STREAM (connection),
                              G_IO_STREAM_SPLICE_CLOSE_STREAM1 | G_IO_STREAM_SPLICE_CLOSE_STREAM2,
                              G_PRIORITY_DEFAULT, NULL, on_splice_done, NULL);
  }
  call->fd = pair[0];
  g_unix_set_fd_nonblocking (call->fd, TRUE, NULL);
  call->ok = TRUE;
}

static gboolean
call_run (gpointer data)
{
  Call *call = data;
  Shared *shared = call->shared;
  gboolean stopping;

  g_mutex_lock (&shared->lock);
  stopping = shared->stopping;
  g_mutex_unlock (&shared->lock);
  /* the plugin stops on this same thread: if it has not yet, the runner and its
   * plugins are there for the whole call */
  if (!stopping)
    {
      if (call->kind == CALL_CHECK_SANDBOX)
        check_sandbox (shared->runner, call);
      else
        {
          /* again: the sandbox may have stopped since it was checked, before the
           * connection was admitted (and so before a stop would have closed it) */
          check_sandbox (shared->runner, call);
          if (call->ok)
            {
              call->ok = FALSE;
              connect_toolbox (shared->runner, call);
            }
        }
    }
  else
    call->reason = g_strdup ("the gateway is stopping");
  g_mutex_lock (&shared->lock);
  call->done = TRUE;
  g_cond_broadcast (&shared->cond);
  g_mutex_unlock (&shared->lock);
  return G_SOURCE_REMOVE;
}

/* Runs @call on the runner's thread and waits for it; FALSE (with call->reason) when it
 * failed, timed out or the gateway stops. */
static gboolean
call_on_runner (Shared *shared, Call *call)
{
  gint64 deadline = g_get_monotonic_time () + RUNNER_CALL_TIMEOUT_SEC * G_TIME_SPAN_SECOND;
  gboolean done;

  g_atomic_ref_count_inc (&call->ref);   /* the source's */
  g_main_context_invoke_full (shared->context, G_PRIORITY_DEFAULT, call_run, call, (GDestroyNotify) call_unref);
  g_mutex_lock (&shared->lock);
  while (!call->done && !shared->stopping)
    if (!g_cond_wait_until (&shared->cond, &shared->lock, deadline))
      break;
  done = call->done;
  g_mutex_unlock (&shared->lock);
  if (!done && call->reason == NULL)
    call->reason = g_strdup ("the runner did not answer");
  return done && call->ok;
}

static Call *
call_new (Shared *shared, CallKind kind, const char *sandbox_id)
{
  Call *call = g_new0 (Call, 1);

  g_atomic_ref_count_init (&call->ref);
  call->shared = shared_ref (shared);
  call->kind = kind;
  call->sandbox_id = g_strdup (sandbox_id);
  call->fd = -1;
  return call;
}

G_DEFINE_AUTOPTR_CLEANUP_FUNC (Call, call_unref)

/* Connections -------------------------------------------------------------------------- */

/* What the gateway keeps per client connection */
typedef struct {
  char *sandbox_id;       /* once authenticated */
  char *user;
  char *refusal;          /* why the last meaningful attempt failed */
  Upstream *upstream;
} ConnState;

static ConnState *
conn_state (MrSshConn *conn)
{
  ConnState *state = mr_ssh_conn_get_data (conn);

  if (state == NULL)
    {
      state = g_new0 (ConnState, 1);
      mr_ssh_conn_set_data (conn, state);
    }
  return state;
}

static void
refuse (MrSshConn *conn, const char *user, char *reason, gboolean tell_client, char **banner)
{
  ConnState *state = conn_state (conn);

  /* keep the first reason: later attempts (other keys) are usually the client's
   * fallbacks and say less */
  if (state->refusal == NULL)
    {
      state->refusal = reason;
      g_free (state->user);
      state->user = g_strdup (user);
    }
  else
    g_free (reason);
  if (tell_client && banner)
    *banner = g_strdup_printf ("mock-runner ssh gateway: %s", state->refusal);
}

static gboolean
looks_like_token (const char *user)
{
  if (strlen (user) != MR_SSH_TOKEN_LENGTH)
    return FALSE;
  for (const char *p = user; *p; p++)
    if (!g_ascii_isalnum (*p))
      return FALSE;
  return TRUE;
}

/* The sandbox is started, and the upstream session to its toolbox is up. */
static gboolean
admit (MrSshConn *conn, const char *user, const char *sandbox_id, gboolean probe_only, char **banner)
{
  Shared *shared = mr_ssh_conn_get_role_data (conn);
  ConnState *state = conn_state (conn);
  g_autoptr(Call) check = call_new (shared, CALL_CHECK_SANDBOX, sandbox_id);
  g_autoptr(Call) connect = NULL;
  g_autoptr(GError) error = NULL;
  Upstream *up;
  int fd;

  if (!call_on_runner (shared, check))
    {
      refuse (conn, user, g_steal_pointer (&check->reason), TRUE, banner);
      return FALSE;
    }
  if (probe_only)
    return TRUE;

  /* admitted before the connect call re-checks the sandbox on the runner's thread: a
   * stop before that check refuses it, a stop after it finds it here and closes it */
  g_mutex_lock (&shared->lock);
  g_hash_table_insert (shared->admitted, conn, g_strdup (sandbox_id));
  g_mutex_unlock (&shared->lock);
  connect = call_new (shared, CALL_CONNECT_TOOLBOX, sandbox_id);
  if (!call_on_runner (shared, connect))
    {
      refuse (conn, user, g_steal_pointer (&connect->reason), TRUE, banner);
      return FALSE;
    }
  fd = connect->fd;
  connect->fd = -1;
  up = relay_upstream_connect (conn, fd, &error);
  if (up == NULL)
    {
      refuse (conn, user, g_strdup_printf ("sandbox %s: %s", sandbox_id, error->message), TRUE, banner);
      return FALSE;
    }
  state->upstream = up;
  state->sandbox_id = g_strdup (sandbox_id);
  g_info ("ssh gateway: %s (user %s) connected to sandbox %s", mr_ssh_conn_get_peer_address (conn), user,
          sandbox_id);
  return TRUE;
}

static gboolean
auth_none (MrSshConn *conn, const char *user, char **banner)
{
  Shared *shared = mr_ssh_conn_get_role_data (conn);
  g_autofree char *sandbox_id = NULL;

  /* the runner's clock, which tests advance to expire tokens (safe from this thread) */
  switch (mr_ssh_access_store_check (shared->tokens, user, mr_runner_get_real_time (shared->runner), &sandbox_id))
    {
    case MR_SSH_ACCESS_VALID:
      return admit (conn, user, sandbox_id, FALSE, banner);
    case MR_SSH_ACCESS_EXPIRED:
      refuse (conn, user, g_strdup ("the access token has expired"), TRUE, banner);
      return FALSE;
    case MR_SSH_ACCESS_UNKNOWN:
    default:
      /* a sandbox id (the runner's way, with a key next) is no refusal yet */
      if (looks_like_token (user))
        refuse (conn, user, g_strdup ("unknown or revoked access token"), TRUE, banner);
      return FALSE;
    }
}

static gboolean
auth_password (MrSshConn *conn, const char *user, const char *password, char **banner)
{
  refuse (conn, user, g_strdup ("password authentication is not accepted: use an access token as the user name, "
                                "or the gateway's key"), TRUE, banner);
  return FALSE;
}

static gboolean
auth_pubkey (MrSshConn *conn, const char *user, ssh_key key, gboolean verified, char **banner)
{
  Shared *shared = mr_ssh_conn_get_role_data (conn);

  if (shared->authorized_key == NULL)
    {
      refuse (conn, user, g_strdup (looks_like_token (user) ? "unknown or revoked access token"
                                    : "public keys are not accepted (SSH_PUBLIC_KEY is not set)"), FALSE, banner);
      return FALSE;
    }
  if (ssh_key_cmp (key, shared->authorized_key, SSH_KEY_CMP_PUBLIC) != 0)
    {
      refuse (conn, user, g_strdup (looks_like_token (user) ? "unknown or revoked access token"
                                    : "the public key is not the gateway's (SSH_PUBLIC_KEY)"), FALSE, banner);
      return FALSE;
    }
  /* the runner's way: the user name is the sandbox id */
  return admit (conn, user, user, !verified, banner);
}

static MrSshPeer *
open_session (MrSshConn *conn, GError **error)
{
  return relay_open_session (conn_state (conn)->upstream, error);
}

static MrSshPeer *
open_direct_tcpip (MrSshConn *conn, const char *host, guint16 port, const char *origin_host,
                   guint16 origin_port, GError **error)
{
  return relay_open_direct_tcpip (conn_state (conn)->upstream, host, port, origin_host, origin_port, error);
}

static void
role_prepare (MrSshConn *conn, MrSshPollSet *set)
{
  ConnState *state = conn_state (conn);

  if (state->upstream)
    relay_upstream_prepare (state->upstream, set);
}

static gboolean
role_dispatch (MrSshConn *conn)
{
  ConnState *state = conn_state (conn);

  return state->upstream && relay_upstream_dispatch (state->upstream);
}

static void
role_cleanup (MrSshConn *conn)
{
  ConnState *state = mr_ssh_conn_get_data (conn);

  Shared *shared = mr_ssh_conn_get_role_data (conn);

  g_mutex_lock (&shared->lock);
  g_hash_table_remove (shared->admitted, conn);
  g_mutex_unlock (&shared->lock);
  if (state == NULL)
    {
      g_info ("ssh gateway: %s left before authenticating", mr_ssh_conn_get_peer_address (conn));
      return;
    }
  if (state->sandbox_id == NULL)
    g_message ("ssh gateway: refused %s (user '%s'): %s", mr_ssh_conn_get_peer_address (conn),
               state->user ? state->user : "?", state->refusal ? state->refusal : "no accepted authentication");
  relay_upstream_free (state->upstream);
  g_free (state->sandbox_id);
  g_free (state->user);
  g_free (state->refusal);
  g_free (state);
  mr_ssh_conn_set_data (conn, NULL);
}

static const MrSshRoleOps gateway_role = {
  .auth_methods = SSH_AUTH_METHOD_PUBLICKEY,
  .auth_none = auth_none,
  .auth_password = auth_password,
  .auth_pubkey = auth_pubkey,
  .open_session = open_session,
  .open_direct_tcpip = open_direct_tcpip,
  .prepare = role_prepare,
  .dispatch = role_dispatch,
  .cleanup = role_cleanup,
};

/* Sandboxes that stop ------------------------------------------------------------------ */

static gboolean
ends_connections (MrSandboxState state)
{
  switch (state)
    {
    case MR_SANDBOX_STATE_STOPPING:
    case MR_SANDBOX_STATE_STOPPED:
    case MR_SANDBOX_STATE_DESTROYING:
    case MR_SANDBOX_STATE_DESTROYED:
      return TRUE;
    default:
      return FALSE;
    }
}

/* On the runner's thread, as every state change */
static void
on_sandbox_state_changed (MrRunner *runner, const char *sandbox_id, MrSandboxState old_state,
                          MrSandboxState new_state, gpointer user_data)
{
  Shared *shared = user_data;
  GHashTableIter iter;
  gpointer conn, id;
  guint closed = 0;

  /* TOOLBOX_ANY_SANDBOX lets sessions in whatever the sandbox's state */
  if (!ends_connections (new_state) || mr_runner_get_option_bool (runner, "TOOLBOX_ANY_SANDBOX", FALSE))
    return;
  g_mutex_lock (&shared->lock);
  g_hash_table_iter_init (&iter, shared->admitted);
  while (g_hash_table_iter_next (&iter, &conn, &id))
    if (g_strcmp0 (id, sandbox_id) == 0)
      {
        /* the connection's thread ends it and removes it from the table */
        mr_ssh_conn_interrupt (conn);
        closed++;
      }
  g_mutex_unlock (&shared->lock);
  if (closed > 0)
    g_message ("ssh gateway: sandbox %s is %s: closing %u connection%s", sandbox_id,
               mr_sandbox_state_to_string (new_state), closed, closed == 1 ? "" : "s");
}

/* Options ------------------------------------------------------------------------------ */

/* SSH_PUBLIC_KEY: an authorized_keys line, base64-encoded as Daytona passes it, or the
 * line itself. */
static ssh_key
parse_authorized_key (const char *value, GError **error)
{
  g_autofree char *line = NULL;
  g_auto(GStrv) fields = NULL;
  enum ssh_keytypes_e type;
  ssh_key key = NULL;
  guint n = 0;

  if (strchr (value, ' ') == NULL)
    {
      gsize len = 0;
      guchar *decoded = g_base64_decode (value, &len);
      line = g_strndup ((const char *) decoded, len);
      g_free (decoded);
    }
  else
    line = g_strdup (value);
  fields = g_strsplit_set (g_strstrip (line), " \t", -1);
  /* "[options] type base64 [comment]": find the type */
  for (n = 0; fields[n] && fields[n + 1]; n++)
    if (ssh_key_type_from_name (fields[n]) != SSH_KEYTYPE_UNKNOWN)
      break;
  if (fields[n] == NULL || fields[n + 1] == NULL ||
      (type = ssh_key_type_from_name (fields[n])) == SSH_KEYTYPE_UNKNOWN ||
      ssh_pki_import_pubkey_base64 (fields[n + 1], type, &key) != SSH_OK)
    {
      g_set_error (error, MR_ERROR, MR_ERROR_CONFIG,
                   "invalid SSH_PUBLIC_KEY: expected an authorized_keys line (\"ssh-ed25519 AAAA... comment\"), "
                   "base64-encoded or not");
      return NULL;
    }
  return key;
}

static gboolean
gateway_setup (MrPlugin *plugin, MrRunner *runner, GError **error)
{
  MrSshLibssh *self = MR_SSH_LIBSSH (plugin);
  const char *public_key = mr_runner_get_option (runner, "SSH_PUBLIC_KEY");
  gint64 port = mr_runner_get_option_int (runner, "SSH_GATEWAY_PORT", DEFAULT_PORT);
  Shared *shared;

  if (port < 0 || port > 65535)
    {
      g_set_error (error, MR_ERROR, MR_ERROR_CONFIG, "invalid SSH_GATEWAY_PORT: %" G_GINT64_FORMAT, port);
      return FALSE;
    }
  self->runner = runner;
  shared = g_new0 (Shared, 1);
  g_atomic_ref_count_init (&shared->ref);
  g_mutex_init (&shared->lock);
  g_cond_init (&shared->cond);
  shared->runner = runner;
  shared->tokens = mr_runner_get_ssh_access (runner);
  shared->context = g_main_context_ref_thread_default ();
  shared->admitted = g_hash_table_new_full (g_direct_hash, g_direct_equal, NULL, g_free);
  self->shared = shared;
  if (public_key && *public_key)
    {
      shared->authorized_key = parse_authorized_key (public_key, error);
      if (shared->authorized_key == NULL)
        return FALSE;
    }
  return TRUE;
}

static gboolean
gateway_start (MrPlugin *plugin, GError **error)
{
  MrSshLibssh *self = MR_SSH_LIBSSH (plugin);
  const char *key_path = mr_runner_get_option (self->runner, "SSH_HOST_KEY_PATH");
  gint64 port = mr_runner_get_option_int (self->runner, "SSH_GATEWAY_PORT", DEFAULT_PORT);
  const char *host = mr_runner_get_config (self->runner)->api_host;
  g_autofree char *default_path = NULL;
  g_autoptr(GError) local = NULL;
  gboolean created = FALSE;
  ssh_key key;

  if (key_path == NULL || *key_path == '\0')
    {
      /* Daytona's default is /root/.ssh/id_rsa; we keep out of ~/.ssh but still want the
       * same key on every start, or the user's ssh refuses the second login ("REMOTE
       * HOST IDENTIFICATION HAS CHANGED"): the user's state folder. */
      default_path = g_build_filename (g_get_user_state_dir (), "mock-runner", "ssh_host_rsa_key", NULL);
      key = mr_ssh_host_key_load_or_create (default_path, SSH_KEYTYPE_RSA, 2048, &created, &local);
      if (key == NULL)
        {
          /* e.g. a read-only home: a key of this run only */
          g_autofree char *dir = mr_runner_get_state_dir (self->runner);
          g_message ("ssh gateway: %s; using a host key of this run only", local->message);
          g_clear_error (&local);
          g_free (default_path);
          default_path = g_build_filename (dir ? dir : g_get_tmp_dir (), "ssh_host_rsa_key", NULL);
          key = mr_ssh_host_key_load_or_create (default_path, SSH_KEYTYPE_RSA, 2048, &created, &local);
        }
      key_path = default_path;
    }
  else
    key = mr_ssh_host_key_load_or_create (key_path, SSH_KEYTYPE_RSA, 2048, &created, &local);
  if (key == NULL)
    {
      g_set_error (error, MR_ERROR, MR_ERROR_CONFIG, "ssh gateway: %s", local->message);
      return FALSE;
    }
  if (created)
    g_message ("ssh gateway: generated a host key in %s", key_path);

  self->server = mr_ssh_server_new (key, &gateway_role, self->shared);
  ssh_key_free (key);
  self->port = mr_ssh_server_listen (self->server, host, port, &local);
  if (self->port == 0)
    {
      g_set_error (error, MR_ERROR, MR_ERROR_CONFIG, "cannot start the SSH gateway (SSH_GATEWAY_PORT): %s",
                   local->message);
      g_clear_pointer (&self->server, mr_ssh_server_free);
      return FALSE;
    }
  self->state_handler = g_signal_connect (self->runner, "sandbox-state-changed",
                                          G_CALLBACK (on_sandbox_state_changed), self->shared);
  g_info ("ssh gateway listening on port %u", self->port);
  return TRUE;
}

static void
gateway_stop (MrPlugin *plugin)
{
  MrSshLibssh *self = MR_SSH_LIBSSH (plugin);

  /* no more closing of connections on the runner's behalf */
  if (self->state_handler)
    g_clear_signal_handler (&self->state_handler, self->runner);
  if (self->shared)
    {
      /* connection threads waiting for the runner's thread give up now */
      g_mutex_lock (&self->shared->lock);
      self->shared->stopping = TRUE;
      g_cond_broadcast (&self->shared->cond);
      g_mutex_unlock (&self->shared->lock);
    }
  g_clear_pointer (&self->server, mr_ssh_server_free);
  self->port = 0;
}

static void
gateway_reset (MrPlugin *plugin)
{
  /* the tokens are the runner's (reset clears them); sessions end with the toolbox's */
}

static void
plugin_iface_init (MrPluginInterface *iface)
{
  iface->setup = gateway_setup;
  iface->start = gateway_start;
  iface->stop = gateway_stop;
  iface->reset = gateway_reset;
}

static guint16
gateway_get_port (MrSshBackend *backend)
{
  return MR_SSH_LIBSSH (backend)->port;
}

static void
ssh_iface_init (MrSshBackendInterface *iface)
{
  iface->get_port = gateway_get_port;
}

static void
mr_ssh_libssh_init (MrSshLibssh *self)
{
}

static void
mr_ssh_libssh_finalize (GObject *object)
{
  MrSshLibssh *self = MR_SSH_LIBSSH (object);

  gateway_stop (MR_PLUGIN (self));
  g_clear_pointer (&self->shared, shared_unref);
  G_OBJECT_CLASS (mr_ssh_libssh_parent_class)->finalize (object);
}

static void
mr_ssh_libssh_class_init (MrSshLibsshClass *klass)
{
  G_OBJECT_CLASS (klass)->finalize = mr_ssh_libssh_finalize;
}

static const MrPluginOption options[] = {
  { "SSH_GATEWAY_PORT", "2220", "Port of the SSH gateway (0: a free port, shown in sshCommand)" },
  { "SSH_HOST_KEY_PATH", NULL, "Host key file, generated (RSA 2048) and saved when missing [$XDG_STATE_HOME/mock-runner/ssh_host_rsa_key]" },
  { "SSH_PUBLIC_KEY", NULL, "The key clients may use with the sandbox id as user name: an authorized_keys line, base64-encoded or not [none]" },
  { "SSH_GATEWAY_HOST", NULL, "Host name put in sshCommand [the runner's address]" },
  { NULL, NULL, NULL }
};

MR_PLUGIN_DEFINE ("ssh-libssh", MR_PLUGIN_KIND_SSH,
                  "SSH gateway (libssh): ssh, sftp, scp and port forwarding into a sandbox's toolbox",
                  mr_ssh_libssh_get_type, options);
