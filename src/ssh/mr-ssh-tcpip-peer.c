/* mr-ssh-tcpip-peer.c: a "direct-tcpip" channel (ssh -L): a TCP connection made from
 * inside the toolbox, as the daemon's server makes it (always allowed). */
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <string.h>
#include <unistd.h>
#include <sys/socket.h>

#include <glib-unix.h>
#include <gio/gio.h>

#include "mr-ssh-local.h"

#define CONNECT_TIMEOUT_MS 10000

typedef struct {
  MrSshPeer base;
  int fd;
  gboolean read_eof;
  gboolean write_done;
  gboolean write_blocked;
} TcpipPeer;

static int
connect_with_timeout (const struct addrinfo *ai, int *err)
{
  struct pollfd p;
  socklen_t len = sizeof *err;
  int fd = socket (ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC | SOCK_NONBLOCK, ai->ai_protocol);

  if (fd < 0)
    {
      *err = errno;
      return -1;
    }
  if (connect (fd, ai->ai_addr, ai->ai_addrlen) == 0)
    return fd;
  if (errno != EINPROGRESS)
    {
      *err = errno;
      close (fd);
      return -1;
    }
  p.fd = fd;
  p.events = POLLOUT;
  if (poll (&p, 1, CONNECT_TIMEOUT_MS) <= 0)
    {
      *err = ETIMEDOUT;
      close (fd);
      return -1;
    }
  if (getsockopt (fd, SOL_SOCKET, SO_ERROR, err, &len) != 0 || *err != 0)
    {
      close (fd);
      return -1;
    }
  return fd;
}

static gboolean
tcpip_request (MrSshPeer *peer, const MrSshRequest *request, GError **error)
{
  g_set_error_literal (error, G_IO_ERROR, G_IO_ERROR_NOT_SUPPORTED, "not a session channel");
  return FALSE;
}

static gssize
tcpip_write (MrSshPeer *peer, const guint8 *data, gsize len)
{
  TcpipPeer *self = (TcpipPeer *) peer;
  gssize n;

  self->write_blocked = FALSE;
  if (self->write_done)
    return -1;
  do
    n = send (self->fd, data, len, MSG_NOSIGNAL);
  while (n < 0 && errno == EINTR);
  if (n >= 0)
    return n;
  if (errno == EAGAIN || errno == EWOULDBLOCK)
    {
      self->write_blocked = TRUE;
      return 0;
    }
  self->write_done = TRUE;
  return -1;
}

static void
tcpip_write_eof (MrSshPeer *peer)
{
  TcpipPeer *self = (TcpipPeer *) peer;

  shutdown (self->fd, SHUT_WR);
  self->write_done = TRUE;
}

static gssize
tcpip_read (MrSshPeer *peer, guint8 *buf, gsize len, gboolean *is_stderr)
{
  TcpipPeer *self = (TcpipPeer *) peer;
  gssize n;

  if (self->read_eof)
    return -1;
  do
    n = recv (self->fd, buf, len, 0);
  while (n < 0 && errno == EINTR);
  if (n > 0)
    return n;
  if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
    return 0;
  self->read_eof = TRUE;
  return -1;
}

static gboolean
tcpip_finished (MrSshPeer *peer, MrSshExit *exit)
{
  TcpipPeer *self = (TcpipPeer *) peer;

  /* the server's side ended; once the client's side has too, the channel closes */
  return self->read_eof && self->write_done;
}

static void
tcpip_prepare (MrSshPeer *peer, MrSshPollSet *set, gboolean want_read)
{
  TcpipPeer *self = (TcpipPeer *) peer;

  mr_ssh_poll_set_add (set, self->fd, (want_read && !self->read_eof ? POLLIN : 0) |
                                      (self->write_blocked ? POLLOUT : 0));
}

static void
tcpip_free (MrSshPeer *peer)
{
  TcpipPeer *self = (TcpipPeer *) peer;

  close (self->fd);
  g_free (self);
}

static const MrSshPeerClass tcpip_class = {
  .request = tcpip_request,
  .write = tcpip_write,
  .write_eof = tcpip_write_eof,
  .read = tcpip_read,
  .finished = tcpip_finished,
  .prepare = tcpip_prepare,
  .free = tcpip_free,
};

MrSshPeer *
mr_ssh_tcpip_peer_new (const char *host, guint16 port, GError **error)
{
  struct addrinfo hints = { 0 }, *result = NULL;
  char service[8];
  TcpipPeer *self;
  int err = ECONNREFUSED;
  int fd = -1;
  int rc;

  hints.ai_socktype = SOCK_STREAM;
  g_snprintf (service, sizeof service, "%u", port);
  rc = getaddrinfo (host, service, &hints, &result);
  if (rc != 0)
    {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_NOT_FOUND, "cannot resolve %s: %s", host, gai_strerror (rc));
      return NULL;
    }
  for (struct addrinfo *ai = result; ai && fd < 0; ai = ai->ai_next)
    fd = connect_with_timeout (ai, &err);
  freeaddrinfo (result);
  if (fd < 0)
    {
      g_set_error (error, G_IO_ERROR, g_io_error_from_errno (err), "cannot connect to %s:%u: %s", host, port,
                   g_strerror (err));
      return NULL;
    }
  self = g_new0 (TcpipPeer, 1);
  self->base.klass = &tcpip_class;
  self->fd = fd;
  return &self->base;
}
