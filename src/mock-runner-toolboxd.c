/* mock-runner-toolboxd.c: the toolbox API on its own server, as the Daytona daemon
 * serves it on port 2280 inside a sandbox. The docker toolbox backend copies this
 * program into the shared toolbox container.
 *
 * Like the daemon: --work-dir (DAYTONA_USER_HOME_AS_WORKDIR, as a value or as the newer
 * daemon's environment variable set to "true", means the home directory), the config
 * directory $HOME/.daytona, and the line "Starting toolbox server on port N" on stdout,
 * printed here once the port is bound so that a parent can wait for it. SIGTERM and
 * SIGINT end every process the toolbox started, then the program, with status 0. */
#include <locale.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <glib-unix.h>
#include <glib/gstdio.h>

#include "mock-runner.h"
#include "toolbox/mr-toolbox.h"
#include "ssh/mr-toolbox-ssh.h"

/* The daemon's SSH server (port 22220). Failing to start it is not fatal: the HTTP API
 * is what most clients need. */
static MrToolboxSsh *
start_ssh_server (MrToolbox *toolbox, const char *host, int port)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(MrToolboxSsh) ssh = NULL;
  guint16 bound;

  if (port < 0)
    return NULL;
  ssh = mr_toolbox_ssh_new (toolbox, &error);
  bound = ssh ? mr_toolbox_ssh_listen (ssh, host, port, &error) : 0;
  if (bound == 0)
    {
      fprintf (stderr, "mock-runner-toolboxd: no SSH server: %s\n", error->message);
      return NULL;
    }
  printf ("Starting SSH server on port %u\n", bound);
  fflush (stdout);
  return g_steal_pointer (&ssh);
}

static gboolean
on_signal (gpointer data)
{
  g_main_loop_quit (data);
  return G_SOURCE_REMOVE;
}

int
main (int argc, char **argv)
{
  int port = 2280;
  int ssh_port = MR_TOOLBOX_SSH_PORT;
  g_autofree char *work_dir = NULL;
  g_autofree char *home_dir = NULL;
  g_autofree char *host = NULL;
  gboolean version = FALSE;
  GOptionEntry entries[] = {
    { "port", 'p', 0, G_OPTION_ARG_INT, &port, "Port to listen on (0: a free port) [2280]", "PORT" },
    { "work-dir", 0, 0, G_OPTION_ARG_FILENAME, &work_dir,
      "Work directory; DAYTONA_USER_HOME_AS_WORKDIR means the home directory [current directory]", "DIR" },
    { "home-dir", 0, 0, G_OPTION_ARG_FILENAME, &home_dir, "Home directory [$HOME]", "DIR" },
    { "host", 0, 0, G_OPTION_ARG_STRING, &host, "Address to listen on [all interfaces]", "ADDRESS" },
    { "ssh-port", 0, 0, G_OPTION_ARG_INT, &ssh_port,
      "SSH server port (0: a free port, -1: no SSH server) [22220]", "PORT" },
    { "version", 0, 0, G_OPTION_ARG_NONE, &version, "Print the version and exit", NULL },
    { NULL }
  };
  g_autoptr(GOptionContext) context = g_option_context_new ("- the Daytona toolbox API");
  g_autoptr(GError) error = NULL;
  g_autoptr(MrToolbox) toolbox = NULL;
  g_autoptr(SoupServer) server = NULL;
  g_autoptr(GMainLoop) loop = NULL;
  g_autoptr(MrToolboxSsh) ssh = NULL;
  gboolean ok;

  setlocale (LC_ALL, "");
  g_option_context_add_main_entries (context, entries, NULL);
  if (!g_option_context_parse (context, &argc, &argv, &error))
    {
      fprintf (stderr, "mock-runner-toolboxd: %s\n", error->message);
      return 1;
    }
  if (version)
    {
      printf ("mock-runner-toolboxd %s\n", MR_PACKAGE_VERSION);
      return 0;
    }
  if (port < 0 || port > 65535 || ssh_port < -1 || ssh_port > 65535)
    {
      fprintf (stderr, "mock-runner-toolboxd: invalid port %d\n", port < 0 || port > 65535 ? port : ssh_port);
      return 1;
    }
  if (home_dir == NULL)
    home_dir = g_strdup (g_get_home_dir ());
  if (work_dir == NULL)
    {
      const char *home_as_work_dir = g_getenv ("DAYTONA_USER_HOME_AS_WORKDIR");
      work_dir = home_as_work_dir && g_ascii_strcasecmp (home_as_work_dir, "true") == 0
                 ? g_strdup (home_dir) : g_get_current_dir ();
    }
  else if (strcmp (work_dir, "DAYTONA_USER_HOME_AS_WORKDIR") == 0)
    {
      g_free (work_dir);
      work_dir = g_strdup (home_dir);
    }
  /* a client that goes away while a child's pipe is written must not kill the daemon */
  signal (SIGPIPE, SIG_IGN);

  toolbox = mr_toolbox_new (work_dir, home_dir, &error);
  if (toolbox == NULL)
    {
      fprintf (stderr, "mock-runner-toolboxd: %s\n", error->message);
      return 1;
    }
  if (g_chdir (mr_toolbox_get_work_dir (toolbox)) != 0)
    {
      fprintf (stderr, "mock-runner-toolboxd: cannot enter %s\n", mr_toolbox_get_work_dir (toolbox));
      return 1;
    }
  {
    /* the daemon's config directory; sessions of other daemons keep their data there */
    g_autofree char *config_dir = g_build_filename (mr_toolbox_get_home_dir (toolbox), ".daytona", NULL);
    if (g_mkdir_with_parents (config_dir, 0755) != 0)
      fprintf (stderr, "mock-runner-toolboxd: warning: cannot create %s\n", config_dir);
  }
  server = soup_server_new ("server-header", "mock-runner-toolboxd ", "raw-paths", TRUE, NULL);
  mr_toolbox_serve (toolbox, server);
  if (host)
    {
      g_autoptr(GInetAddress) address = g_inet_address_new_from_string (host);
      g_autoptr(GSocketAddress) sockaddr = address ? g_inet_socket_address_new (address, port) : NULL;
      if (sockaddr == NULL)
        {
          fprintf (stderr, "mock-runner-toolboxd: invalid --host '%s'\n", host);
          return 1;
        }
      ok = soup_server_listen (server, sockaddr, 0, &error);
    }
  else
    ok = soup_server_listen_all (server, port, 0, &error);
  if (!ok)
    {
      fprintf (stderr, "mock-runner-toolboxd: cannot listen on port %d: %s\n", port, error->message);
      return 1;
    }
  {
    GSList *uris = soup_server_get_uris (server);
    port = uris ? g_uri_get_port (uris->data) : port;
    g_slist_free_full (uris, (GDestroyNotify) g_uri_unref);
  }
  printf ("Starting toolbox server on port %d\n", port);
  fflush (stdout);
  ssh = start_ssh_server (toolbox, host, ssh_port);

  loop = g_main_loop_new (NULL, FALSE);
  g_unix_signal_add (SIGINT, on_signal, loop);
  g_unix_signal_add (SIGTERM, on_signal, loop);
  g_main_loop_run (loop);
  /* no new requests, then end every session, PTY, git and other child */
  soup_server_disconnect (server);
  g_clear_pointer (&ssh, mr_toolbox_ssh_free);
  mr_toolbox_shutdown (toolbox);
  return 0;
}
