/* mr-ssh-conn.c: one SSH server connection: authentication, then the channel loop. */
#include <errno.h>
#include <string.h>
#include <unistd.h>
#include <sys/socket.h>

#include <glib-unix.h>
#include <gio/gio.h>
#include <libssh/callbacks.h>

#include "mr-ssh-conn.h"

#define MAX_AUTH_FAILURES 20

typedef struct {
  MrSshConn *conn;
  ssh_channel channel;
  MrSshPeer *peer;
  char *label;                      /* for the log */
  struct ssh_channel_callbacks_struct callbacks;
  GPtrArray *signals;               /* signal names the client sent, not yet forwarded */
  guint8 in_buf[MR_SSH_IO_CHUNK];   /* client -> peer, not yet taken */
  gsize in_off, in_len;
  gboolean client_eof;              /* the client will send nothing more */
  gboolean peer_input_closed;       /* the peer takes no input: drop what comes */
  gboolean peer_eof_sent;
  gboolean output_done;             /* the peer's output ended */
  gboolean eof_sent;                /* we told the client */
  gboolean closed;                  /* we closed the channel */
} Channel;

struct _MrSshConn {
  ssh_session session;
  char *peer_address;
  const MrSshRoleOps *ops;
  gpointer role_data;
  gpointer data;
  GPtrArray *channels;              /* Channel */
  int wake[2];
  gint interrupted;
  gboolean role_alive;

  struct ssh_counter_struct counter;   /* packets received on the client session */
  GPtrArray *watched;               /* Watched: other sessions driven by this loop */

  GMutex lock;                      /* fd and interrupt_fds, which other threads shut down */
  int fd;
  GArray *interrupt_fds;
};

typedef struct {
  ssh_session session;
  struct ssh_counter_struct counter;
} Watched;

/* Poll sets ------------------------------------------------------------------------ */

void
mr_ssh_poll_set_add (MrSshPollSet *set, int fd, short events)
{
  struct pollfd p = { .fd = fd, .events = events, .revents = 0 };

  if (fd >= 0 && events)
    g_array_append_val (set->fds, p);
}

void
mr_ssh_poll_set_bound (MrSshPollSet *set, int timeout_ms)
{
  if (set->timeout_ms < 0 || timeout_ms < set->timeout_ms)
    set->timeout_ms = timeout_ms;
}

void
mr_ssh_exit_clear (MrSshExit *exit)
{
  g_clear_pointer (&exit->signal, g_free);
  exit->has_status = FALSE;
  exit->status = 0;
  exit->core_dumped = FALSE;
}

/* The connection ------------------------------------------------------------------- */

MrSshConn *
mr_ssh_conn_new (ssh_session session, int fd, const char *peer_address,
                 const MrSshRoleOps *ops, gpointer role_data)
{
  MrSshConn *conn = g_new0 (MrSshConn, 1);

  conn->session = session;
  conn->fd = fd;
  conn->peer_address = g_strdup (peer_address);
  conn->ops = ops;
  conn->role_data = role_data;
  conn->channels = g_ptr_array_new ();
  conn->role_alive = TRUE;
  conn->interrupt_fds = g_array_new (FALSE, FALSE, sizeof (int));
  conn->watched = g_ptr_array_new_with_free_func (g_free);
  ssh_set_counters (session, NULL, &conn->counter);
  g_mutex_init (&conn->lock);
  if (!g_unix_open_pipe (conn->wake, FD_CLOEXEC, NULL))
    conn->wake[0] = conn->wake[1] = -1;
  else
    {
      g_unix_set_fd_nonblocking (conn->wake[0], TRUE, NULL);
      g_unix_set_fd_nonblocking (conn->wake[1], TRUE, NULL);
    }
  return conn;
}

void
mr_ssh_conn_free (MrSshConn *conn)
{
  if (conn == NULL)
    return;
  g_ptr_array_unref (conn->channels);
  if (conn->session)
    ssh_free (conn->session);
  if (conn->wake[0] >= 0)
    {
      close (conn->wake[0]);
      close (conn->wake[1]);
    }
  g_array_unref (conn->interrupt_fds);
  g_ptr_array_unref (conn->watched);
  g_mutex_clear (&conn->lock);
  g_free (conn->peer_address);
  g_free (conn);
}

gpointer
mr_ssh_conn_get_role_data (MrSshConn *conn)
{
  return conn->role_data;
}

gpointer
mr_ssh_conn_get_data (MrSshConn *conn)
{
  return conn->data;
}

void
mr_ssh_conn_set_data (MrSshConn *conn, gpointer data)
{
  conn->data = data;
}

const char *
mr_ssh_conn_get_peer_address (MrSshConn *conn)
{
  return conn->peer_address;
}

gboolean
mr_ssh_conn_is_interrupted (MrSshConn *conn)
{
  return g_atomic_int_get (&conn->interrupted);
}

void
mr_ssh_conn_add_interrupt_fd (MrSshConn *conn, int fd)
{
  g_mutex_lock (&conn->lock);
  g_array_append_val (conn->interrupt_fds, fd);
  if (g_atomic_int_get (&conn->interrupted))
    shutdown (fd, SHUT_RDWR);
  g_mutex_unlock (&conn->lock);
}

void
mr_ssh_conn_remove_interrupt_fd (MrSshConn *conn, int fd)
{
  g_mutex_lock (&conn->lock);
  for (guint i = 0; i < conn->interrupt_fds->len; i++)
    if (g_array_index (conn->interrupt_fds, int, i) == fd)
      {
        g_array_remove_index_fast (conn->interrupt_fds, i);
        break;
      }
  g_mutex_unlock (&conn->lock);
}

void
mr_ssh_conn_watch_session (MrSshConn *conn, ssh_session session)
{
  Watched *w = g_new0 (Watched, 1);

  w->session = session;
  ssh_set_counters (session, NULL, &w->counter);
  g_ptr_array_add (conn->watched, w);
}

void
mr_ssh_conn_unwatch_session (MrSshConn *conn, ssh_session session)
{
  for (guint i = 0; i < conn->watched->len; i++)
    {
      Watched *w = conn->watched->pdata[i];
      if (w->session == session)
        {
          ssh_set_counters (session, NULL, NULL);
          g_ptr_array_remove_index (conn->watched, i);
          return;
        }
    }
}

/* Packets received so far on every session the loop drives */
static guint64
packets_received (MrSshConn *conn)
{
  guint64 n = conn->counter.in_packets;

  for (guint i = 0; i < conn->watched->len; i++)
    n += ((Watched *) conn->watched->pdata[i])->counter.in_packets;
  return n;
}

void
mr_ssh_conn_interrupt (MrSshConn *conn)
{
  g_atomic_int_set (&conn->interrupted, 1);
  g_mutex_lock (&conn->lock);
  /* shutting the sockets down wakes libssh's blocking calls (key exchange, upstream
   * connects), which poll them; the pipe wakes the loop */
  if (conn->fd >= 0)
    shutdown (conn->fd, SHUT_RDWR);
  for (guint i = 0; i < conn->interrupt_fds->len; i++)
    shutdown (g_array_index (conn->interrupt_fds, int, i), SHUT_RDWR);
  g_mutex_unlock (&conn->lock);
  if (conn->wake[1] >= 0 && write (conn->wake[1], "x", 1) < 0)
    {
      /* the pipe is full: the loop is awake already */
    }
}

static gboolean
session_dead (MrSshConn *conn)
{
  return !ssh_is_connected (conn->session) ||
         (ssh_get_status (conn->session) & (SSH_CLOSED | SSH_CLOSED_ERROR)) != 0;
}

/* Authentication ------------------------------------------------------------------- */

static void
send_banner (MrSshConn *conn, const char *text, char **last_banner)
{
  g_autofree char *line = NULL;
  ssh_string banner;

  /* OpenSSH shows each banner it gets: send a reason once, not once per attempt */
  if (text == NULL || g_strcmp0 (text, *last_banner) == 0)
    return;
  g_free (*last_banner);
  *last_banner = g_strdup (text);
  line = g_str_has_suffix (text, "\n") ? g_strdup (text) : g_strconcat (text, "\r\n", NULL);
  banner = ssh_string_from_char (line);
  if (banner)
    {
      ssh_send_issue_banner (conn->session, banner);
      ssh_string_free (banner);
    }
}

/* Returns TRUE once the client is authenticated. */
static gboolean
handle_auth (MrSshConn *conn, ssh_message msg, int *failures, char **last_banner)
{
  const MrSshRoleOps *ops = conn->ops;
  const char *user = ssh_message_auth_user (msg);
  g_autofree char *banner = NULL;
  gboolean ok = FALSE;
  gboolean counts = TRUE;

  if (user == NULL)
    user = "";
  switch (ssh_message_subtype (msg))
    {
    case SSH_AUTH_METHOD_NONE:
      /* every OpenSSH client asks "none" first, to learn the methods: not a failure */
      counts = FALSE;
      ok = ops->auth_none && ops->auth_none (conn, user, &banner);
      break;

    case SSH_AUTH_METHOD_PASSWORD:
      G_GNUC_BEGIN_IGNORE_DEPRECATIONS
      ok = ops->auth_password && ops->auth_password (conn, user, ssh_message_auth_password (msg), &banner);
      G_GNUC_END_IGNORE_DEPRECATIONS
      break;

    case SSH_AUTH_METHOD_PUBLICKEY:
      {
        G_GNUC_BEGIN_IGNORE_DEPRECATIONS
        ssh_key key = ssh_message_auth_pubkey (msg);
        enum ssh_publickey_state_e state = ssh_message_auth_publickey_state (msg);
        G_GNUC_END_IGNORE_DEPRECATIONS

        if (ops->auth_pubkey && key && state == SSH_PUBLICKEY_STATE_NONE)
          {
            /* the probe: "would you take this key?" */
            if (ops->auth_pubkey (conn, user, key, FALSE, &banner))
              {
                ssh_message_auth_reply_pk_ok_simple (msg);
                return FALSE;
              }
          }
        else if (ops->auth_pubkey && key && state == SSH_PUBLICKEY_STATE_VALID)
          ok = ops->auth_pubkey (conn, user, key, TRUE, &banner);
        break;
      }

    default:
      break;
    }

  if (ok)
    {
      ssh_message_auth_reply_success (msg, 0);
      return TRUE;
    }
  send_banner (conn, banner, last_banner);
  ssh_message_auth_set_methods (msg, ops->auth_methods);
  ssh_message_reply_default (msg);
  if (counts)
    (*failures)++;
  return FALSE;
}

static gboolean
authenticate (MrSshConn *conn)
{
  gint64 deadline = g_get_monotonic_time () + MR_SSH_LOGIN_GRACE_SEC * G_TIME_SPAN_SECOND;
  long timeout = MR_SSH_LOGIN_GRACE_SEC;
  g_autofree char *last_banner = NULL;
  int failures = 0;

  ssh_options_set (conn->session, SSH_OPTIONS_TIMEOUT, &timeout);
  if (ssh_handle_key_exchange (conn->session) != SSH_OK)
    {
      if (!mr_ssh_conn_is_interrupted (conn))
        g_debug ("ssh: key exchange with %s failed: %s", conn->peer_address, ssh_get_error (conn->session));
      return FALSE;
    }
  ssh_set_auth_methods (conn->session, conn->ops->auth_methods);

  while (!mr_ssh_conn_is_interrupted (conn) && g_get_monotonic_time () < deadline)
    {
      ssh_message msg = ssh_message_get (conn->session);
      gboolean done = FALSE;

      if (msg == NULL)
        return FALSE;
      if (ssh_message_type (msg) == SSH_REQUEST_AUTH)
        done = handle_auth (conn, msg, &failures, &last_banner);
      else
        ssh_message_reply_default (msg);
      ssh_message_free (msg);
      if (done)
        return TRUE;
      if (failures >= MAX_AUTH_FAILURES)
        {
          g_message ("ssh: %s: too many authentication failures", conn->peer_address);
          return FALSE;
        }
    }
  return FALSE;
}

/* Channels --------------------------------------------------------------------------- */

static void
on_channel_signal (ssh_session session, ssh_channel channel, const char *signal, void *userdata)
{
  Channel *ch = userdata;

  /* only record: the loop forwards it */
  if (signal)
    g_ptr_array_add (ch->signals, g_strdup (signal));
}

static Channel *
chan_add (MrSshConn *conn, ssh_channel channel, MrSshPeer *peer, char *label)
{
  Channel *ch = g_new0 (Channel, 1);

  ch->conn = conn;
  ch->channel = channel;
  ch->peer = peer;
  ch->label = label;
  ch->signals = g_ptr_array_new_with_free_func (g_free);
  ssh_callbacks_init (&ch->callbacks);
  ch->callbacks.userdata = ch;
  ch->callbacks.channel_signal_function = on_channel_signal;
  ssh_set_channel_callbacks (channel, &ch->callbacks);
  g_ptr_array_add (conn->channels, ch);
  return ch;
}

static void
close_channel (ssh_channel channel)
{
  /* in non-blocking mode ssh_channel_close() stops after the EOF when the socket cannot
   * take more at once; the second call sends the CLOSE (once sent, it is a no-op) */
  ssh_channel_close (channel);
  ssh_channel_close (channel);
}

static void
chan_free (Channel *ch)
{
  /* libssh keeps the channel until the client confirms the close: it must not call
   * back into this struct any more */
  ssh_remove_channel_callbacks (ch->channel, &ch->callbacks);
  if (ch->peer)
    ch->peer->klass->free (ch->peer);
  if (!ch->closed && ssh_is_connected (ch->conn->session))
    close_channel (ch->channel);
  ssh_channel_free (ch->channel);
  g_ptr_array_unref (ch->signals);
  g_free (ch->label);
  g_free (ch);
}

static Channel *
chan_find (MrSshConn *conn, ssh_channel channel)
{
  for (guint i = 0; i < conn->channels->len; i++)
    {
      Channel *ch = conn->channels->pdata[i];
      if (ch->channel == channel)
        return ch;
    }
  return NULL;
}

static void
handle_channel_open (MrSshConn *conn, ssh_message msg)
{
  g_autoptr(GError) error = NULL;
  MrSshPeer *peer = NULL;
  char *label = NULL;
  ssh_channel channel;

  if (!conn->role_alive)
    g_set_error_literal (&error, G_IO_ERROR, G_IO_ERROR_CLOSED, "the connection is closing");
  else
    switch (ssh_message_subtype (msg))
      {
      case SSH_CHANNEL_SESSION:
        label = g_strdup ("session");
        peer = conn->ops->open_session (conn, &error);
        break;

      case SSH_CHANNEL_DIRECT_TCPIP:
        {
          const char *host = ssh_message_channel_request_open_destination (msg);
          int port = ssh_message_channel_request_open_destination_port (msg);
          const char *origin = ssh_message_channel_request_open_originator (msg);
          int origin_port = ssh_message_channel_request_open_originator_port (msg);

          label = g_strdup_printf ("direct-tcpip %s:%d", host ? host : "?", port);
          if (host == NULL || port <= 0 || port > 65535 || conn->ops->open_direct_tcpip == NULL)
            g_set_error_literal (&error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT, "invalid destination");
          else
            peer = conn->ops->open_direct_tcpip (conn, host, port, origin ? origin : "", CLAMP (origin_port, 0, 65535),
                                                 &error);
          break;
        }

      default:
        label = g_strdup_printf ("channel type %d", ssh_message_subtype (msg));
        g_set_error_literal (&error, G_IO_ERROR, G_IO_ERROR_NOT_SUPPORTED, "channel type not supported");
        break;
      }

  if (peer == NULL)
    {
      g_message ("ssh: %s: refused %s: %s", conn->peer_address, label ? label : "channel",
                 error ? error->message : "refused");
      g_free (label);
      ssh_message_reply_default (msg);
      return;
    }
  channel = ssh_message_channel_request_open_reply_accept (msg);
  if (channel == NULL)
    {
      peer->klass->free (peer);
      g_free (label);
      return;
    }
  chan_add (conn, channel, peer, label);
}

static void
handle_channel_request (MrSshConn *conn, ssh_message msg)
{
  Channel *ch = chan_find (conn, ssh_message_channel_request_channel (msg));
  g_autoptr(GError) error = NULL;
  MrSshRequest request = { 0 };
  gboolean known = TRUE;

  switch (ssh_message_subtype (msg))
    {
    case SSH_CHANNEL_REQUEST_PTY:
      request.type = MR_SSH_REQUEST_PTY;
      G_GNUC_BEGIN_IGNORE_DEPRECATIONS
      request.term = ssh_message_channel_request_pty_term (msg);
      request.cols = ssh_message_channel_request_pty_width (msg);
      request.rows = ssh_message_channel_request_pty_height (msg);
      request.px_width = ssh_message_channel_request_pty_pxwidth (msg);
      request.px_height = ssh_message_channel_request_pty_pxheight (msg);
      G_GNUC_END_IGNORE_DEPRECATIONS
      break;
    case SSH_CHANNEL_REQUEST_WINDOW_CHANGE:
      request.type = MR_SSH_REQUEST_WINDOW_CHANGE;
      G_GNUC_BEGIN_IGNORE_DEPRECATIONS
      request.cols = ssh_message_channel_request_pty_width (msg);
      request.rows = ssh_message_channel_request_pty_height (msg);
      request.px_width = ssh_message_channel_request_pty_pxwidth (msg);
      request.px_height = ssh_message_channel_request_pty_pxheight (msg);
      G_GNUC_END_IGNORE_DEPRECATIONS
      break;
    case SSH_CHANNEL_REQUEST_ENV:
      request.type = MR_SSH_REQUEST_ENV;
      request.name = ssh_message_channel_request_env_name (msg);
      request.value = ssh_message_channel_request_env_value (msg);
      break;
    case SSH_CHANNEL_REQUEST_EXEC:
      request.type = MR_SSH_REQUEST_EXEC;
      request.command = ssh_message_channel_request_command (msg);
      break;
    case SSH_CHANNEL_REQUEST_SHELL:
      request.type = MR_SSH_REQUEST_SHELL;
      break;
    case SSH_CHANNEL_REQUEST_SUBSYSTEM:
      request.type = MR_SSH_REQUEST_SUBSYSTEM;
      request.subsystem = ssh_message_channel_request_subsystem (msg);
      break;
    default:
      known = FALSE;
      break;
    }

  if (ch && known && !ch->closed && ch->peer->klass->request (ch->peer, &request, &error))
    ssh_message_channel_request_reply_success (msg);
  else
    {
      if (ch && known && error)
        g_message ("ssh: %s: %s: request refused: %s", conn->peer_address, ch->label, error->message);
      ssh_message_reply_default (msg);
    }
}

/* Takes every queued message (which also moves libssh's I/O along); TRUE if there
 * were any. */
static gboolean
process_messages (MrSshConn *conn)
{
  gboolean any = FALSE;
  ssh_message msg;

  while ((msg = ssh_message_get (conn->session)) != NULL)
    {
      any = TRUE;
      switch (ssh_message_type (msg))
        {
        case SSH_REQUEST_CHANNEL_OPEN:
          handle_channel_open (conn, msg);
          break;
        case SSH_REQUEST_CHANNEL:
          handle_channel_request (conn, msg);
          break;
        default:
          /* global requests (tcpip-forward, ...) are refused, as by Daytona's gateways */
          ssh_message_reply_default (msg);
          break;
        }
      ssh_message_free (msg);
    }
  return any;
}

/* Moves what can move now; TRUE if anything did. */
static gboolean
pump_channel (Channel *ch)
{
  const MrSshPeerClass *klass = ch->peer->klass;
  guint8 buf[MR_SSH_IO_CHUNK];
  gboolean progress = FALSE;
  int n;

  while (ch->signals->len > 0)
    {
      MrSshRequest request = { .type = MR_SSH_REQUEST_SIGNAL, .signal = ch->signals->pdata[0] };
      klass->request (ch->peer, &request, NULL);
      g_ptr_array_remove_index (ch->signals, 0);
    }

  /* client -> peer */
  if (ch->in_len == 0 && !ch->client_eof)
    {
      n = ssh_channel_read_nonblocking (ch->channel, ch->in_buf, sizeof ch->in_buf, 0);
      if (n > 0)
        {
          ch->in_off = 0;
          ch->in_len = n;
          progress = TRUE;
        }
      else if (n == SSH_EOF || n == SSH_ERROR || ssh_channel_is_eof (ch->channel))
        {
          ch->client_eof = TRUE;
          progress = TRUE;
        }
      /* extended data from a client means nothing here */
      while (ssh_channel_read_nonblocking (ch->channel, buf, sizeof buf, 1) > 0)
        ;
    }
  if (ch->in_len > 0)
    {
      gssize taken = ch->peer_input_closed ? -1 : klass->write (ch->peer, ch->in_buf + ch->in_off, ch->in_len);
      if (taken < 0)
        {
          ch->peer_input_closed = TRUE;
          ch->in_len = 0;
          progress = TRUE;
        }
      else if (taken > 0)
        {
          ch->in_off += taken;
          ch->in_len -= taken;
          progress = TRUE;
        }
    }
  if (ch->client_eof && ch->in_len == 0 && !ch->peer_eof_sent)
    {
      ch->peer_eof_sent = TRUE;
      if (!ch->peer_input_closed)
        klass->write_eof (ch->peer);
      progress = TRUE;
    }

  /* peer -> client, within the client's window */
  while (!ch->output_done)
    {
      guint32 window = ssh_channel_window_size (ch->channel);
      gboolean is_stderr = FALSE;
      gssize got;

      if (window == 0 || ssh_channel_is_closed (ch->channel))
        break;
      got = klass->read (ch->peer, buf, MIN (window, sizeof buf), &is_stderr);
      if (got == 0)
        break;
      progress = TRUE;
      if (got < 0)
        {
          ch->output_done = TRUE;
          break;
        }
      n = is_stderr ? ssh_channel_write_stderr (ch->channel, buf, got) : ssh_channel_write (ch->channel, buf, got);
      if (n != got)
        {
          /* only a broken channel takes less than its window */
          ch->output_done = TRUE;
          break;
        }
    }

  /* the end: EOF as soon as the output ends (a forwarded connection half-closes),
   * then how it ended, then close */
  if (ch->output_done && !ch->eof_sent)
    {
      if (!ssh_channel_is_closed (ch->channel))
        ssh_channel_send_eof (ch->channel);
      ch->eof_sent = TRUE;
      progress = TRUE;
    }
  if (ch->output_done && !ch->closed)
    {
      MrSshExit exit = { 0 };

      if (klass->finished (ch->peer, &exit))
        {
          if (!ssh_channel_is_closed (ch->channel))
            {
              if (exit.signal)
                ssh_channel_request_send_exit_signal (ch->channel, exit.signal, exit.core_dumped, "", "");
              else if (exit.has_status)
                ssh_channel_request_send_exit_status (ch->channel, exit.status);
              close_channel (ch->channel);
            }
          ch->closed = TRUE;
          progress = TRUE;
        }
      mr_ssh_exit_clear (&exit);
    }
  return progress;
}

/* TRUE if anything moved */
static gboolean
pump_channels (MrSshConn *conn)
{
  gboolean any = FALSE;

  /* bounded, so that a busy channel cannot keep the others (and new messages) waiting */
  for (int round = 0; round < 16; round++)
    {
      gboolean progress = FALSE;

      for (guint i = 0; i < conn->channels->len; i++)
        progress |= pump_channel (conn->channels->pdata[i]);
      any |= progress;
      if (!progress)
        break;
    }
  for (guint i = conn->channels->len; i > 0; i--)
    {
      Channel *ch = conn->channels->pdata[i - 1];
      if (ch->closed || ssh_channel_is_closed (ch->channel))
        {
          g_ptr_array_remove_index (conn->channels, i - 1);
          chan_free (ch);
          any = TRUE;
        }
    }
  return any;
}

static void
prepare_wait (MrSshConn *conn, MrSshPollSet *set)
{
  short session_events = POLLIN;

  g_array_set_size (set->fds, 0);
  set->timeout_ms = -1;
  mr_ssh_poll_set_add (set, conn->wake[0], POLLIN);
  if (ssh_get_poll_flags (conn->session) & SSH_WRITE_PENDING)
    session_events |= POLLOUT;
  mr_ssh_poll_set_add (set, ssh_get_fd (conn->session), session_events);
  if (conn->role_alive && conn->ops->prepare)
    conn->ops->prepare (conn, set);
  for (guint i = 0; i < conn->channels->len; i++)
    {
      Channel *ch = conn->channels->pdata[i];
      gboolean want_read = !ch->output_done && ssh_channel_window_size (ch->channel) > 0;
      ch->peer->klass->prepare (ch->peer, set, want_read);
    }
}

static void
serve (MrSshConn *conn)
{
  MrSshPollSet set = { g_array_new (FALSE, FALSE, sizeof (struct pollfd)), -1 };

  ssh_set_blocking (conn->session, 0);
  while (!mr_ssh_conn_is_interrupted (conn))
    {
      char drain[64];
      guint64 packets = packets_received (conn);
      gboolean moved = process_messages (conn);

      if (conn->role_alive && conn->ops->dispatch && !conn->ops->dispatch (conn))
        conn->role_alive = FALSE;
      moved |= pump_channels (conn);
      if (session_dead (conn))
        break;
      if (!conn->role_alive && conn->channels->len == 0)
        break;
      /* libssh may hold what arrived meanwhile: go round again before waiting */
      if (moved || packets_received (conn) != packets)
        continue;

      prepare_wait (conn, &set);
      if (poll ((struct pollfd *) set.fds->data, set.fds->len, set.timeout_ms) < 0 && errno != EINTR)
        break;
      while (read (conn->wake[0], drain, sizeof drain) > 0)
        ;
    }
  g_array_unref (set.fds);
}

void
mr_ssh_conn_run (MrSshConn *conn)
{
  if (authenticate (conn))
    serve (conn);

  while (conn->channels->len > 0)
    chan_free (g_ptr_array_steal_index (conn->channels, conn->channels->len - 1));
  if (conn->ops->cleanup)
    conn->ops->cleanup (conn);
  /* from here on no other thread may shut the socket down: its number is about to be freed */
  g_mutex_lock (&conn->lock);
  conn->fd = -1;
  g_mutex_unlock (&conn->lock);
  ssh_disconnect (conn->session);
}
