/* ssh-relay.c: channels relayed from the gateway to the toolbox's SSH server.
 *
 * The upstream session is blocking only around requests that wait for a reply (channel
 * opens, pty-req, exec...), so that the client gets the toolbox's real answer; data
 * moves in non-blocking mode within the SSH windows of both sides. Callbacks only
 * record (exit status, exit signal). */
#include <string.h>
#include <unistd.h>

#include <gio/gio.h>
#include <libssh/callbacks.h>

#include "ssh-relay.h"
#include "ssh/mr-toolbox-ssh.h"

#define UPSTREAM_TIMEOUT_SEC 30

struct _Upstream {
  MrSshConn *conn;
  ssh_session session;
  ssh_event event;
  int fd;
};

typedef struct {
  MrSshPeer base;
  Upstream *up;
  ssh_channel channel;
  struct ssh_channel_callbacks_struct callbacks;
  gboolean has_status;
  int status;
  char *signal;
  gboolean core_dumped;
  gboolean closed;
} RelayPeer;

/* The upstream session ------------------------------------------------------------ */

Upstream *
relay_upstream_connect (MrSshConn *conn, int fd, GError **error)
{
  Upstream *up = g_new0 (Upstream, 1);
  long timeout = UPSTREAM_TIMEOUT_SEC;
  int no = 0;
  int rc;

  up->conn = conn;
  up->fd = fd;
  mr_ssh_conn_add_interrupt_fd (conn, fd);
  up->session = ssh_new ();
  ssh_options_set (up->session, SSH_OPTIONS_PROCESS_CONFIG, &no);
  ssh_options_set (up->session, SSH_OPTIONS_FD, &fd);
  ssh_options_set (up->session, SSH_OPTIONS_HOST, "toolbox");
  ssh_options_set (up->session, SSH_OPTIONS_USER, MR_TOOLBOX_SSH_USER);
  ssh_options_set (up->session, SSH_OPTIONS_TIMEOUT, &timeout);

  /* as the runner's gateway: the toolbox's host key is not checked (it changes on
   * every start of the daemon) */
  if (ssh_connect (up->session) != SSH_OK)
    {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_CONNECTION_REFUSED, "cannot talk SSH to the toolbox: %s",
                   ssh_get_error (up->session));
      relay_upstream_free (up);
      return NULL;
    }
  rc = ssh_userauth_password (up->session, NULL, MR_TOOLBOX_SSH_PASSWORD);
  if (rc != SSH_AUTH_SUCCESS)
    {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_PERMISSION_DENIED, "the toolbox refused the gateway's login: %s",
                   ssh_get_error (up->session));
      relay_upstream_free (up);
      return NULL;
    }
  ssh_set_blocking (up->session, 0);
  mr_ssh_conn_watch_session (conn, up->session);
  up->event = ssh_event_new ();
  ssh_event_add_session (up->event, up->session);
  return up;
}

void
relay_upstream_prepare (Upstream *up, MrSshPollSet *set)
{
  short events = POLLIN;

  if (ssh_get_poll_flags (up->session) & SSH_WRITE_PENDING)
    events |= POLLOUT;
  mr_ssh_poll_set_add (set, ssh_get_fd (up->session), events);
}

gboolean
relay_upstream_dispatch (Upstream *up)
{
  ssh_event_dopoll (up->event, 0);
  return ssh_is_connected (up->session) &&
         !(ssh_get_status (up->session) & (SSH_CLOSED | SSH_CLOSED_ERROR));
}

void
relay_upstream_free (Upstream *up)
{
  if (up == NULL)
    return;
  /* the socket number is about to be freed: no more shutdowns from other threads */
  mr_ssh_conn_remove_interrupt_fd (up->conn, up->fd);
  if (up->event)
    {
      mr_ssh_conn_unwatch_session (up->conn, up->session);
      ssh_event_remove_session (up->event, up->session);
      ssh_event_free (up->event);
    }
  ssh_disconnect (up->session);   /* closes the socket */
  ssh_free (up->session);
  g_free (up);
}

/* Blocking around one upstream call that waits for a reply */
#define UPSTREAM_BLOCKING(up, call) \
  ({ int _rc; ssh_set_blocking ((up)->session, 1); _rc = (call); ssh_set_blocking ((up)->session, 0); _rc; })

/* Relayed channels ------------------------------------------------------------------ */

static void
on_exit_status (ssh_session session, ssh_channel channel, int status, void *userdata)
{
  RelayPeer *self = userdata;

  self->has_status = TRUE;
  self->status = status;
}

static void
on_exit_signal (ssh_session session, ssh_channel channel, const char *signal, int core, const char *errmsg,
                const char *lang, void *userdata)
{
  RelayPeer *self = userdata;

  g_free (self->signal);
  self->signal = g_strdup (signal);
  self->core_dumped = core != 0;
}

static gboolean
refused (GError **error, Upstream *up, const char *what)
{
  g_set_error (error, G_IO_ERROR, G_IO_ERROR_FAILED, "the toolbox refused %s: %s", what,
               ssh_get_error (up->session));
  return FALSE;
}

static gboolean
relay_request (MrSshPeer *peer, const MrSshRequest *request, GError **error)
{
  RelayPeer *self = (RelayPeer *) peer;
  Upstream *up = self->up;
  ssh_channel c = self->channel;

  if (self->closed || ssh_channel_is_closed (c))
    {
      g_set_error_literal (error, G_IO_ERROR, G_IO_ERROR_CLOSED, "the toolbox channel is closed");
      return FALSE;
    }
  switch (request->type)
    {
    case MR_SSH_REQUEST_PTY:
      if (UPSTREAM_BLOCKING (up, ssh_channel_request_pty_size (c, request->term ? request->term : "xterm",
                                                               request->cols, request->rows)) != SSH_OK)
        return refused (error, up, "the PTY");
      return TRUE;
    case MR_SSH_REQUEST_WINDOW_CHANGE:
      /* no reply is asked for: nothing to wait for */
      ssh_channel_change_pty_size (c, request->cols, request->rows);
      return TRUE;
    case MR_SSH_REQUEST_ENV:
      if (UPSTREAM_BLOCKING (up, ssh_channel_request_env (c, request->name, request->value)) != SSH_OK)
        return refused (error, up, "the environment variable");
      return TRUE;
    case MR_SSH_REQUEST_EXEC:
      if (UPSTREAM_BLOCKING (up, ssh_channel_request_exec (c, request->command ? request->command : "")) != SSH_OK)
        return refused (error, up, "the command");
      return TRUE;
    case MR_SSH_REQUEST_SHELL:
      if (UPSTREAM_BLOCKING (up, ssh_channel_request_shell (c)) != SSH_OK)
        return refused (error, up, "the shell");
      return TRUE;
    case MR_SSH_REQUEST_SUBSYSTEM:
      if (UPSTREAM_BLOCKING (up, ssh_channel_request_subsystem (c, request->subsystem ? request->subsystem : ""))
          != SSH_OK)
        return refused (error, up, "the subsystem");
      return TRUE;
    case MR_SSH_REQUEST_SIGNAL:
      ssh_channel_request_send_signal (c, request->signal);
      return TRUE;
    }
  return FALSE;
}

static gssize
relay_write (MrSshPeer *peer, const guint8 *data, gsize len)
{
  RelayPeer *self = (RelayPeer *) peer;
  int n;

  if (self->closed || ssh_channel_is_closed (self->channel))
    return -1;
  if (ssh_channel_window_size (self->channel) == 0)
    return 0;
  n = ssh_channel_write (self->channel, data, MIN (len, G_MAXINT32));
  return n < 0 ? -1 : n;
}

static void
relay_write_eof (MrSshPeer *peer)
{
  RelayPeer *self = (RelayPeer *) peer;

  if (!ssh_channel_is_closed (self->channel))
    ssh_channel_send_eof (self->channel);
}

static gssize
relay_read (MrSshPeer *peer, guint8 *buf, gsize len, gboolean *is_stderr)
{
  RelayPeer *self = (RelayPeer *) peer;
  int out, err;

  out = ssh_channel_read_nonblocking (self->channel, buf, len, 0);
  if (out > 0)
    return out;
  err = ssh_channel_read_nonblocking (self->channel, buf, len, 1);
  if (err > 0)
    {
      *is_stderr = TRUE;
      return err;
    }
  /* both streams ended (EOF, close, or a dead upstream) */
  if ((out == SSH_EOF || out == SSH_ERROR) && (err == SSH_EOF || err == SSH_ERROR))
    return -1;
  return 0;
}

static gboolean
relay_finished (MrSshPeer *peer, MrSshExit *exit)
{
  RelayPeer *self = (RelayPeer *) peer;

  /* the toolbox closes the channel after its exit status */
  if (!ssh_channel_is_closed (self->channel))
    return FALSE;
  if (self->signal)
    {
      exit->signal = g_strdup (self->signal);
      exit->core_dumped = self->core_dumped;
    }
  else if (self->has_status)
    {
      exit->has_status = TRUE;
      exit->status = self->status;
    }
  return TRUE;
}

static void
relay_prepare (MrSshPeer *peer, MrSshPollSet *set, gboolean want_read)
{
  /* the upstream socket is waited on once for every channel, by the role */
}

static void
relay_free (MrSshPeer *peer)
{
  RelayPeer *self = (RelayPeer *) peer;

  ssh_remove_channel_callbacks (self->channel, &self->callbacks);
  if (ssh_is_connected (self->up->session))
    {
      /* non-blocking close may stop after the EOF; the second call sends the CLOSE */
      ssh_channel_close (self->channel);
      ssh_channel_close (self->channel);
    }
  ssh_channel_free (self->channel);
  g_free (self->signal);
  g_free (self);
}

static const MrSshPeerClass relay_class = {
  .request = relay_request,
  .write = relay_write,
  .write_eof = relay_write_eof,
  .read = relay_read,
  .finished = relay_finished,
  .prepare = relay_prepare,
  .free = relay_free,
};

static RelayPeer *
relay_peer_new (Upstream *up)
{
  RelayPeer *self = g_new0 (RelayPeer, 1);

  self->base.klass = &relay_class;
  self->up = up;
  self->channel = ssh_channel_new (up->session);
  ssh_callbacks_init (&self->callbacks);
  self->callbacks.userdata = self;
  self->callbacks.channel_exit_status_function = on_exit_status;
  self->callbacks.channel_exit_signal_function = on_exit_signal;
  ssh_set_channel_callbacks (self->channel, &self->callbacks);
  return self;
}

static void
relay_peer_discard (RelayPeer *self)
{
  ssh_remove_channel_callbacks (self->channel, &self->callbacks);
  ssh_channel_free (self->channel);
  g_free (self);
}

MrSshPeer *
relay_open_session (Upstream *up, GError **error)
{
  RelayPeer *self = relay_peer_new (up);

  if (UPSTREAM_BLOCKING (up, ssh_channel_open_session (self->channel)) != SSH_OK)
    {
      refused (error, up, "a session");
      relay_peer_discard (self);
      return NULL;
    }
  return &self->base;
}

MrSshPeer *
relay_open_direct_tcpip (Upstream *up, const char *host, guint16 port, const char *origin_host,
                         guint16 origin_port, GError **error)
{
  RelayPeer *self = relay_peer_new (up);

  if (UPSTREAM_BLOCKING (up, ssh_channel_open_forward (self->channel, host, port, origin_host, origin_port))
      != SSH_OK)
    {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_CONNECTION_REFUSED,
                   "the toolbox cannot connect to %s:%u", host, port);
      relay_peer_discard (self);
      return NULL;
    }
  return &self->base;
}
