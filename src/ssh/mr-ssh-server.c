/* mr-ssh-server.c: the listener and the connection threads of an SSH server. */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <string.h>
#include <unistd.h>
#include <sys/socket.h>

#include <glib-unix.h>
#include <glib/gstdio.h>
#include <gio/gio.h>

#include "mr-ssh-server.h"

#define MAX_CONNECTIONS 64
#define STOP_TIMEOUT_SEC 30

struct _MrSshServer {
  ssh_bind bind;
  const MrSshRoleOps *ops;
  gpointer role_data;
  GSocket *listener;
  guint16 port;
  GThread *accept_thread;
  int wake[2];
  gint stopping;

  GMutex lock;
  GCond cond;
  GPtrArray *conns;          /* MrSshConn being served */
};

typedef struct {
  MrSshServer *server;
  MrSshConn *conn;
} ConnStart;

MrSshServer *
mr_ssh_server_new (ssh_key host_key, const MrSshRoleOps *ops, gpointer role_data)
{
  MrSshServer *self = g_new0 (MrSshServer, 1);
  int no = 0;

  self->bind = ssh_bind_new ();
  /* only what we set: neither the system's libssh server config nor default key files */
  ssh_bind_options_set (self->bind, SSH_BIND_OPTIONS_PROCESS_CONFIG, &no);
  ssh_bind_options_set (self->bind, SSH_BIND_OPTIONS_IMPORT_KEY, ssh_key_dup (host_key));
  self->ops = ops;
  self->role_data = role_data;
  self->wake[0] = self->wake[1] = -1;
  self->conns = g_ptr_array_new ();
  g_mutex_init (&self->lock);
  g_cond_init (&self->cond);
  return self;
}

guint16
mr_ssh_server_get_port (MrSshServer *self)
{
  return self->port;
}

static gpointer
conn_thread (gpointer data)
{
  ConnStart *start = data;
  MrSshServer *self = start->server;
  MrSshConn *conn = start->conn;
  sigset_t pipe_set;

  g_free (start);
  /* a write to a pipe whose reader died must fail with EPIPE, not stop the process */
  sigemptyset (&pipe_set);
  sigaddset (&pipe_set, SIGPIPE);
  pthread_sigmask (SIG_BLOCK, &pipe_set, NULL);

  mr_ssh_conn_run (conn);

  g_mutex_lock (&self->lock);
  g_ptr_array_remove (self->conns, conn);
  g_cond_broadcast (&self->cond);
  g_mutex_unlock (&self->lock);
  /* the server may be gone from here on */
  mr_ssh_conn_free (conn);
  return NULL;
}

static char *
describe_address (const struct sockaddr *addr, socklen_t len)
{
  g_autoptr(GSocketAddress) address = g_socket_address_new_from_native ((gpointer) addr, len);
  g_autofree char *ip = NULL;

  if (address == NULL || !G_IS_INET_SOCKET_ADDRESS (address))
    return g_strdup ("unknown");
  ip = g_inet_address_to_string (g_inet_socket_address_get_address (G_INET_SOCKET_ADDRESS (address)));
  return g_strdup_printf ("%s:%u", ip, g_inet_socket_address_get_port (G_INET_SOCKET_ADDRESS (address)));
}

static void
accept_one (MrSshServer *self)
{
  struct sockaddr_storage addr;
  socklen_t len = sizeof addr;
  g_autofree char *peer = NULL;
  ssh_session session;
  MrSshConn *conn;
  ConnStart *start;
  GThread *thread;
  int fd;

  /* non-blocking: libssh writes only when poll() allows, and a blocking send() of a
   * big buffer could stall two peers that each wait for the other to read */
  fd = accept4 (g_socket_get_fd (self->listener), (struct sockaddr *) &addr, &len, SOCK_CLOEXEC | SOCK_NONBLOCK);
  if (fd < 0)
    return;
  peer = describe_address ((struct sockaddr *) &addr, len);

  g_mutex_lock (&self->lock);
  if (self->conns->len >= MAX_CONNECTIONS)
    {
      g_mutex_unlock (&self->lock);
      g_message ("ssh: refused %s: too many connections (%d)", peer, MAX_CONNECTIONS);
      close (fd);
      return;
    }
  g_mutex_unlock (&self->lock);

  session = ssh_new ();
  if (session == NULL)
    {
      close (fd);
      return;
    }
  if (ssh_bind_accept_fd (self->bind, session, fd) != SSH_OK)
    {
      g_message ("ssh: cannot accept %s: %s", peer, ssh_get_error (self->bind));
      ssh_free (session);   /* closes the socket */
      return;
    }
  conn = mr_ssh_conn_new (session, fd, peer, self->ops, self->role_data);
  start = g_new0 (ConnStart, 1);
  start->server = self;
  start->conn = conn;

  g_mutex_lock (&self->lock);
  g_ptr_array_add (self->conns, conn);
  g_mutex_unlock (&self->lock);
  thread = g_thread_try_new ("mr-ssh-conn", conn_thread, start, NULL);
  if (thread == NULL)
    {
      g_mutex_lock (&self->lock);
      g_ptr_array_remove (self->conns, conn);
      g_mutex_unlock (&self->lock);
      g_free (start);
      mr_ssh_conn_free (conn);
      return;
    }
  g_thread_unref (thread);
}

static gpointer
accept_thread (gpointer data)
{
  MrSshServer *self = data;

  while (!g_atomic_int_get (&self->stopping))
    {
      struct pollfd p[2] = {
        { .fd = g_socket_get_fd (self->listener), .events = POLLIN },
        { .fd = self->wake[0], .events = POLLIN },
      };

      if (poll (p, 2, -1) < 0 && errno != EINTR)
        break;
      if (g_atomic_int_get (&self->stopping))
        break;
      if (p[0].revents & POLLIN)
        accept_one (self);
    }
  return NULL;
}

static GSocket *
listen_on (GInetAddress *address, guint16 port, GError **error)
{
  g_autoptr(GSocket) socket = g_socket_new (g_inet_address_get_family (address), G_SOCKET_TYPE_STREAM,
                                            G_SOCKET_PROTOCOL_TCP, error);
  g_autoptr(GSocketAddress) sockaddr = NULL;

  if (socket == NULL)
    return NULL;
  if (g_inet_address_get_family (address) == G_SOCKET_FAMILY_IPV6 && g_inet_address_get_is_any (address))
    g_socket_set_option (socket, IPPROTO_IPV6, IPV6_V6ONLY, 0, NULL);   /* IPv4 too */
  sockaddr = g_inet_socket_address_new (address, port);
  if (!g_socket_bind (socket, sockaddr, TRUE, error) || !g_socket_listen (socket, error))
    return NULL;
  return g_steal_pointer (&socket);
}

guint16
mr_ssh_server_listen (MrSshServer *self, const char *host, guint16 port, GError **error)
{
  g_autoptr(GInetAddress) address = NULL;
  g_autoptr(GSocketAddress) local = NULL;
  g_autoptr(GError) local_error = NULL;

  g_return_val_if_fail (self->listener == NULL, 0);

  if (host == NULL || *host == '\0')
    {
      address = g_inet_address_new_any (G_SOCKET_FAMILY_IPV6);
      self->listener = listen_on (address, port, &local_error);
      if (self->listener == NULL && !g_error_matches (local_error, G_IO_ERROR, G_IO_ERROR_ADDRESS_IN_USE))
        {
          /* no IPv6 on this machine */
          g_clear_error (&local_error);
          g_clear_object (&address);
          address = g_inet_address_new_any (G_SOCKET_FAMILY_IPV4);
          self->listener = listen_on (address, port, &local_error);
        }
    }
  else
    {
      address = g_inet_address_new_from_string (strcmp (host, "localhost") == 0 ? "127.0.0.1" : host);
      if (address == NULL)
        {
          g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT, "invalid listen address '%s' (expected an IP address)",
                       host);
          return 0;
        }
      self->listener = listen_on (address, port, &local_error);
    }
  if (self->listener == NULL)
    {
      if (g_error_matches (local_error, G_IO_ERROR, G_IO_ERROR_ADDRESS_IN_USE))
        g_set_error (error, G_IO_ERROR, G_IO_ERROR_ADDRESS_IN_USE, "port %u is already in use", port);
      else
        g_set_error (error, G_IO_ERROR, local_error ? local_error->code : G_IO_ERROR_FAILED,
                     "cannot listen on port %u: %s", port, local_error ? local_error->message : "unknown error");
      return 0;
    }
  local = g_socket_get_local_address (self->listener, NULL);
  self->port = local ? g_inet_socket_address_get_port (G_INET_SOCKET_ADDRESS (local)) : port;

  if (!g_unix_open_pipe (self->wake, FD_CLOEXEC, error))
    goto fail;
  self->accept_thread = g_thread_try_new ("mr-ssh-accept", accept_thread, self, error);
  if (self->accept_thread == NULL)
    goto fail;
  return self->port;

fail:
  g_clear_object (&self->listener);
  self->port = 0;
  return 0;
}

/* Interrupts the connections in @victims and waits until they are gone. Called with
 * the lock held. Returns FALSE on timeout. */
static gboolean
end_connections_locked (MrSshServer *self, GPtrArray *victims)
{
  gint64 deadline = g_get_monotonic_time () + STOP_TIMEOUT_SEC * G_TIME_SPAN_SECOND;

  for (guint i = 0; i < victims->len; i++)
    mr_ssh_conn_interrupt (victims->pdata[i]);
  for (;;)
    {
      gboolean remaining = FALSE;

      for (guint i = 0; i < victims->len && !remaining; i++)
        remaining = g_ptr_array_find (self->conns, victims->pdata[i], NULL);
      if (!remaining)
        return TRUE;
      if (!g_cond_wait_until (&self->cond, &self->lock, deadline))
        return FALSE;
    }
}

void
mr_ssh_server_close_connections (MrSshServer *self)
{
  g_autoptr(GPtrArray) victims = NULL;

  g_mutex_lock (&self->lock);
  victims = g_ptr_array_copy (self->conns, NULL, NULL);
  if (!end_connections_locked (self, victims))
    g_warning ("ssh: connections did not end within %d s", STOP_TIMEOUT_SEC);
  g_mutex_unlock (&self->lock);
}

void
mr_ssh_server_free (MrSshServer *self)
{
  g_autoptr(GPtrArray) victims = NULL;
  gboolean ended;

  if (self == NULL)
    return;
  g_atomic_int_set (&self->stopping, 1);
  if (self->accept_thread)
    {
      if (write (self->wake[1], "x", 1) < 0)
        {
          /* the thread also sees the flag at its next wake-up */
        }
      g_thread_join (self->accept_thread);
    }
  g_clear_object (&self->listener);

  g_mutex_lock (&self->lock);
  victims = g_ptr_array_copy (self->conns, NULL, NULL);
  ended = end_connections_locked (self, victims);
  g_mutex_unlock (&self->lock);
  if (!ended)
    {
      /* threads still use the server: leaking it is the only safe choice */
      g_warning ("ssh: connections did not end within %d s; leaking the server", STOP_TIMEOUT_SEC);
      return;
    }

  if (self->wake[0] >= 0)
    {
      close (self->wake[0]);
      close (self->wake[1]);
    }
  ssh_bind_free (self->bind);
  g_ptr_array_unref (self->conns);
  g_mutex_clear (&self->lock);
  g_cond_clear (&self->cond);
  g_free (self);
}

/* Host keys ----------------------------------------------------------------------- */

ssh_key
mr_ssh_host_key_generate (enum ssh_keytypes_e type, int bits, GError **error)
{
  ssh_key key = NULL;

  if (ssh_pki_generate (type, bits, &key) != SSH_OK)
    {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_FAILED, "cannot generate an SSH host key");
      return NULL;
    }
  return key;
}

ssh_key
mr_ssh_host_key_load_or_create (const char *path, enum ssh_keytypes_e type, int bits, gboolean *created,
                                GError **error)
{
  g_autofree char *dir = NULL;
  char *pem = NULL;
  ssh_key key = NULL;
  gboolean ok;

  if (created)
    *created = FALSE;
  if (g_file_test (path, G_FILE_TEST_EXISTS))
    {
      if (ssh_pki_import_privkey_file (path, NULL, NULL, NULL, &key) != SSH_OK)
        {
          g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA, "cannot read the SSH host key %s "
                       "(an unencrypted OpenSSH or PEM private key is expected)", path);
          return NULL;
        }
      return key;
    }

  key = mr_ssh_host_key_generate (type, bits, error);
  if (key == NULL)
    return NULL;
  dir = g_path_get_dirname (path);
  if (g_mkdir_with_parents (dir, 0700) != 0)
    {
      int saved = errno;
      g_set_error (error, G_IO_ERROR, g_io_error_from_errno (saved), "cannot create %s for the SSH host key: %s",
                   dir, g_strerror (saved));
      ssh_key_free (key);
      return NULL;
    }
  if (ssh_pki_export_privkey_base64 (key, NULL, NULL, NULL, &pem) != SSH_OK)
    {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_FAILED, "cannot encode the SSH host key");
      ssh_key_free (key);
      return NULL;
    }
  ok = g_file_set_contents_full (path, pem, -1, G_FILE_SET_CONTENTS_CONSISTENT, 0600, error);
  ssh_string_free_char (pem);
  if (!ok)
    {
      g_prefix_error (error, "cannot save the SSH host key: ");
      ssh_key_free (key);
      return NULL;
    }
  if (created)
    *created = TRUE;
  return key;
}
