/* mr-ssh-session-peer.c: a "session" channel of the toolbox's SSH server.
 *
 * As the Daytona daemon's server (toolbox-api.md 5.4): a shell without a command runs
 * GetShell() on a PTY when one was requested, else /bin/sh; a command runs as
 * `/bin/sh -c <command>` in the work directory, with stdout and stderr apart. Two
 * deliberate differences: the command's real exit status is reported (the daemon
 * collapses every failure to 127), and a command with a PTY requested runs on that
 * PTY, as OpenSSH does (`ssh -t host top` works). The "sftp" subsystem is served in
 * process (mr-sftp-server.c) on a socket pair; any other subsystem ends with status 1. */
#include <errno.h>
#include <signal.h>
#include <string.h>
#include <unistd.h>
#include <sys/socket.h>

#include <glib-unix.h>
#include <gio/gio.h>

#include "mr-ssh-local.h"
#include "mr-sftp-server.h"

typedef enum {
  MODE_IDLE,        /* waiting for exec, shell or subsystem */
  MODE_CHILD,       /* a process, on pipes or a PTY */
  MODE_SFTP,
  MODE_DONE,        /* nothing runs; ends with preset_status */
} Mode;

typedef struct {
  MrSshPeer base;
  MrSshLocalConfig *config;
  Mode mode;

  /* requests before the start */
  gboolean want_pty;
  char *term;
  struct winsize size;
  GPtrArray *env;            /* "NAME=value" the client sent */

  MrSshChild child;
  gboolean out_eof, err_eof;
  gboolean in_closed;
  gboolean in_blocked;       /* the last write would have blocked */

  int sftp_fd;               /* our end of the socket pair */
  GThread *sftp_thread;
  gint sftp_done;

  int preset_status;
} SessionPeer;

MrSshLocalConfig *
mr_ssh_local_config_new (const char *work_dir, const char *shell, char **environ)
{
  MrSshLocalConfig *config = g_new0 (MrSshLocalConfig, 1);

  g_atomic_ref_count_init (&config->ref);
  config->work_dir = g_strdup (work_dir);
  config->shell = g_strdup (shell);
  config->environ = g_strdupv (environ);
  return config;
}

MrSshLocalConfig *
mr_ssh_local_config_ref (MrSshLocalConfig *config)
{
  g_atomic_ref_count_inc (&config->ref);
  return config;
}

void
mr_ssh_local_config_unref (MrSshLocalConfig *config)
{
  if (config == NULL || !g_atomic_ref_count_dec (&config->ref))
    return;
  g_free (config->work_dir);
  g_free (config->shell);
  g_strfreev (config->environ);
  g_free (config);
}

static void
close_fd (int *fd)
{
  if (*fd >= 0)
    close (*fd);
  *fd = -1;
}

static char **
child_environ (SessionPeer *self)
{
  char **env = g_strdupv (self->config->environ);

  for (guint i = 0; i < self->env->len; i++)
    {
      const char *entry = self->env->pdata[i];
      const char *eq = strchr (entry, '=');
      g_autofree char *name = g_strndup (entry, eq - entry);
      env = g_environ_setenv (env, name, eq + 1, TRUE);
    }
  if (self->want_pty)
    env = g_environ_setenv (env, "TERM", self->term && *self->term ? self->term : "xterm", TRUE);
  env = g_environ_setenv (env, "SHELL", self->config->shell, TRUE);
  return env;
}

static gboolean
start_child (SessionPeer *self, const char *command, GError **error)
{
  g_auto(GStrv) env = child_environ (self);
  const char *shell_argv[] = { self->config->shell, NULL };
  const char *sh_argv[] = { "/bin/sh", command ? "-c" : NULL, command, NULL };
  /* an interactive shell needs a terminal; everything else runs under /bin/sh */
  const char *const *argv = (command == NULL && self->want_pty) ? shell_argv : sh_argv;

  if (!mr_ssh_child_spawn (&self->child, argv, (const char *const *) env, self->config->work_dir,
                           self->want_pty ? &self->size : NULL, error))
    return FALSE;
  self->mode = MODE_CHILD;
  return TRUE;
}

typedef struct {
  int fd;
  char *work_dir;
  gint *done;
} SftpStart;

static gpointer
run_sftp (gpointer data)
{
  SftpStart *start = data;

  mr_sftp_serve (start->fd, start->work_dir);
  close (start->fd);
  g_atomic_int_set (start->done, 1);
  g_free (start->work_dir);
  g_free (start);
  return NULL;
}

static gboolean
start_sftp (SessionPeer *self, GError **error)
{
  int pair[2];
  SftpStart *start;

  if (socketpair (AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, pair) != 0)
    {
      g_set_error (error, G_IO_ERROR, g_io_error_from_errno (errno), "cannot create a socket pair: %s",
                   g_strerror (errno));
      return FALSE;
    }
  start = g_new0 (SftpStart, 1);
  start->fd = pair[1];
  start->work_dir = g_strdup (self->config->work_dir);
  start->done = &self->sftp_done;
  self->sftp_thread = g_thread_try_new ("mr-sftp", run_sftp, start, error);
  if (self->sftp_thread == NULL)
    {
      close (pair[0]);
      close (pair[1]);
      g_free (start->work_dir);
      g_free (start);
      return FALSE;
    }
  self->sftp_fd = pair[0];
  g_unix_set_fd_nonblocking (self->sftp_fd, TRUE, NULL);
  self->mode = MODE_SFTP;
  return TRUE;
}

static gboolean
session_request (MrSshPeer *peer, const MrSshRequest *request, GError **error)
{
  SessionPeer *self = (SessionPeer *) peer;

  switch (request->type)
    {
    case MR_SSH_REQUEST_PTY:
      if (self->mode != MODE_IDLE)
        break;
      self->want_pty = TRUE;
      g_free (self->term);
      self->term = g_strdup (request->term);
      self->size.ws_col = CLAMP (request->cols, 0, G_MAXUINT16);
      self->size.ws_row = CLAMP (request->rows, 0, G_MAXUINT16);
      self->size.ws_xpixel = CLAMP (request->px_width, 0, G_MAXUINT16);
      self->size.ws_ypixel = CLAMP (request->px_height, 0, G_MAXUINT16);
      return TRUE;

    case MR_SSH_REQUEST_WINDOW_CHANGE:
      self->size.ws_col = CLAMP (request->cols, 0, G_MAXUINT16);
      self->size.ws_row = CLAMP (request->rows, 0, G_MAXUINT16);
      self->size.ws_xpixel = CLAMP (request->px_width, 0, G_MAXUINT16);
      self->size.ws_ypixel = CLAMP (request->px_height, 0, G_MAXUINT16);
      /* the kernel sends SIGWINCH to the terminal's foreground process group */
      if (self->mode == MODE_CHILD && self->child.pty && self->child.in_fd >= 0)
        ioctl (self->child.in_fd, TIOCSWINSZ, &self->size);
      return TRUE;

    case MR_SSH_REQUEST_ENV:
      if (request->name == NULL || *request->name == '\0' || strchr (request->name, '=') || request->value == NULL)
        break;
      g_ptr_array_add (self->env, g_strconcat (request->name, "=", request->value, NULL));
      return TRUE;

    case MR_SSH_REQUEST_SIGNAL:
      if (self->mode == MODE_CHILD && !mr_ssh_child_poll (&self->child))
        {
          /* as the daemon: a signal it does not know becomes SIGKILL */
          int signo = mr_ssh_signal_from_name (request->signal);
          kill (-self->child.pid, signo ? signo : SIGKILL);
        }
      return TRUE;

    case MR_SSH_REQUEST_EXEC:
    case MR_SSH_REQUEST_SHELL:
      if (self->mode != MODE_IDLE)
        {
          g_set_error_literal (error, G_IO_ERROR, G_IO_ERROR_EXISTS, "the session runs something already");
          return FALSE;
        }
      return start_child (self, request->type == MR_SSH_REQUEST_EXEC ? request->command : NULL, error);

    case MR_SSH_REQUEST_SUBSYSTEM:
      if (self->mode != MODE_IDLE)
        break;
      if (g_strcmp0 (request->subsystem, "sftp") == 0)
        return start_sftp (self, error);
      self->mode = MODE_DONE;
      self->preset_status = 1;
      return TRUE;
    }
  return FALSE;
}

static gssize
write_fd (SessionPeer *self, int fd, const guint8 *data, gsize len)
{
  gssize n;

  self->in_blocked = FALSE;
  do
    n = write (fd, data, len);
  while (n < 0 && errno == EINTR);
  if (n >= 0)
    return n;
  if (errno == EAGAIN || errno == EWOULDBLOCK)
    {
      self->in_blocked = TRUE;
      return 0;
    }
  return -1;
}

static gssize
session_write (MrSshPeer *peer, const guint8 *data, gsize len)
{
  SessionPeer *self = (SessionPeer *) peer;

  if (self->in_closed)
    return -1;
  switch (self->mode)
    {
    case MODE_IDLE:
      return 0;   /* kept in the channel until something runs */
    case MODE_CHILD:
      return write_fd (self, self->child.in_fd, data, len);
    case MODE_SFTP:
      return write_fd (self, self->sftp_fd, data, len);
    case MODE_DONE:
    default:
      return -1;
    }
}

static void
session_write_eof (MrSshPeer *peer)
{
  SessionPeer *self = (SessionPeer *) peer;

  self->in_closed = TRUE;
  if (self->mode == MODE_CHILD && !self->child.pty)
    {
      close (self->child.in_fd);
      self->child.in_fd = -1;
    }
  else if (self->mode == MODE_SFTP)
    shutdown (self->sftp_fd, SHUT_WR);
  /* a terminal cannot be half-closed: the shell ends with "exit" or when the channel closes */
}

/* 0: nothing now, -1: end of stream */
static gssize
read_fd (int fd, guint8 *buf, gsize len, gboolean *eof)
{
  gssize n;

  do
    n = read (fd, buf, len);
  while (n < 0 && errno == EINTR);
  if (n > 0)
    return n;
  if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
    return 0;
  /* 0, or EIO on a PTY whose slave side is closed */
  *eof = TRUE;
  return -1;
}

static gssize
session_read (MrSshPeer *peer, guint8 *buf, gsize len, gboolean *is_stderr)
{
  SessionPeer *self = (SessionPeer *) peer;
  gssize n;

  switch (self->mode)
    {
    case MODE_IDLE:
      return 0;
    case MODE_DONE:
      return -1;
    case MODE_SFTP:
      {
        gboolean eof = FALSE;
        n = read_fd (self->sftp_fd, buf, len, &eof);
        return n;
      }
    case MODE_CHILD:
    default:
      break;
    }

  if (self->child.pty)
    {
      n = read_fd (self->child.out_fd, buf, len, &self->out_eof);
      if (n != 0)
        return n;
      /* the shell has exited and its output is drained: done, even if a background
       * job still holds the terminal (OpenSSH closes such sessions too) */
      if (mr_ssh_child_poll (&self->child))
        {
          n = read_fd (self->child.out_fd, buf, len, &self->out_eof);
          return n > 0 ? n : -1;
        }
      return 0;
    }

  if (!self->out_eof)
    {
      n = read_fd (self->child.out_fd, buf, len, &self->out_eof);
      if (n > 0)
        return n;
    }
  if (!self->err_eof)
    {
      n = read_fd (self->child.err_fd, buf, len, &self->err_eof);
      if (n > 0)
        {
          *is_stderr = TRUE;
          return n;
        }
    }
  return self->out_eof && self->err_eof ? -1 : 0;
}

static gboolean
session_finished (MrSshPeer *peer, MrSshExit *exit)
{
  SessionPeer *self = (SessionPeer *) peer;

  switch (self->mode)
    {
    case MODE_IDLE:
      return FALSE;
    case MODE_DONE:
      exit->has_status = TRUE;
      exit->status = self->preset_status;
      return TRUE;
    case MODE_SFTP:
      if (!g_atomic_int_get (&self->sftp_done))
        return FALSE;
      exit->has_status = TRUE;
      exit->status = 0;
      return TRUE;
    case MODE_CHILD:
    default:
      break;
    }
  if (!mr_ssh_child_poll (&self->child))
    return FALSE;
  if (self->child.wait_status == -1)
    return TRUE;
  if (WIFSIGNALED (self->child.wait_status))
    {
      const char *name = mr_ssh_signal_to_name (WTERMSIG (self->child.wait_status));
      if (name)
        {
          exit->signal = g_strdup (name);
          exit->core_dumped = WCOREDUMP (self->child.wait_status) != 0;
          return TRUE;
        }
      exit->has_status = TRUE;
      exit->status = 128 + WTERMSIG (self->child.wait_status);
      return TRUE;
    }
  exit->has_status = TRUE;
  exit->status = WEXITSTATUS (self->child.wait_status);
  return TRUE;
}

static void
session_prepare (MrSshPeer *peer, MrSshPollSet *set, gboolean want_read)
{
  SessionPeer *self = (SessionPeer *) peer;

  if (self->mode == MODE_SFTP)
    {
      mr_ssh_poll_set_add (set, self->sftp_fd, (want_read ? POLLIN : 0) | (self->in_blocked ? POLLOUT : 0));
      /* the sftp thread may end without closing its socket end first */
      if (!g_atomic_int_get (&self->sftp_done))
        mr_ssh_poll_set_bound (set, 200);
      return;
    }
  if (self->mode != MODE_CHILD)
    return;
  if (self->child.pty)
    mr_ssh_poll_set_add (set, self->child.out_fd, (want_read ? POLLIN : 0) | (self->in_blocked ? POLLOUT : 0));
  else
    {
      if (want_read && !self->out_eof)
        mr_ssh_poll_set_add (set, self->child.out_fd, POLLIN);
      if (want_read && !self->err_eof)
        mr_ssh_poll_set_add (set, self->child.err_fd, POLLIN);
      if (self->in_blocked && self->child.in_fd >= 0)
        mr_ssh_poll_set_add (set, self->child.in_fd, POLLOUT);
    }
  if (!self->child.exited)
    {
      if (self->child.pidfd >= 0)
        mr_ssh_poll_set_add (set, self->child.pidfd, POLLIN);
      else
        mr_ssh_poll_set_bound (set, 100);
    }
}

static void
session_free (MrSshPeer *peer)
{
  SessionPeer *self = (SessionPeer *) peer;

  if (self->mode == MODE_CHILD)
    mr_ssh_child_destroy (&self->child);
  if (self->sftp_thread)
    {
      /* the server sees the end of its input and returns */
      shutdown (self->sftp_fd, SHUT_RDWR);
      g_thread_join (self->sftp_thread);
    }
  close_fd (&self->sftp_fd);
  g_ptr_array_unref (self->env);
  g_free (self->term);
  mr_ssh_local_config_unref (self->config);
  g_free (self);
}

static const MrSshPeerClass session_class = {
  .request = session_request,
  .write = session_write,
  .write_eof = session_write_eof,
  .read = session_read,
  .finished = session_finished,
  .prepare = session_prepare,
  .free = session_free,
};

MrSshPeer *
mr_ssh_session_peer_new (MrSshLocalConfig *config)
{
  SessionPeer *self = g_new0 (SessionPeer, 1);

  self->base.klass = &session_class;
  self->config = mr_ssh_local_config_ref (config);
  self->env = g_ptr_array_new_with_free_func (g_free);
  self->sftp_fd = -1;
  self->child.pidfd = self->child.in_fd = self->child.out_fd = self->child.err_fd = -1;
  self->size.ws_col = 80;
  self->size.ws_row = 24;
  return &self->base;
}
