/* minimal-server: the yardstick for the runner's GET throughput (docs/performance.md).
 * The least a libsoup 3 server can do per request: one handler that answers every path
 * with the same small JSON body, on one thread, like the runner's server thread. Whatever
 * the runner costs above this is its own work (router, auth, journal, state, JSON).
 *
 * Usage: minimal-server   (listens on 127.0.0.1, an ephemeral port)
 * Prints "listening on http://127.0.0.1:PORT/" on stdout when ready; stops on SIGINT/SIGTERM. */
#include <stdio.h>
#include <string.h>
#include <glib-unix.h>
#include <libsoup/soup.h>

/* what the runner answers to GET /sandboxes/{id} for a started sandbox, so both servers
 * write the same bytes */
static const char BODY[] =
  "{\"state\":\"started\",\"backupState\":\"NONE\",\"recoverable\":false,\"daemonVersion\":\"v0.0.0-dev\"}";

static void
answer (SoupServer *server, SoupServerMessage *msg, const char *path, GHashTable *query, gpointer data)
{
  soup_server_message_set_status (msg, SOUP_STATUS_OK, NULL);
  soup_server_message_set_response (msg, "application/json; charset=utf-8", SOUP_MEMORY_STATIC, BODY, strlen (BODY));
}

static gboolean
on_signal (gpointer loop)
{
  g_main_loop_quit (loop);
  return G_SOURCE_REMOVE;
}

int
main (int argc, char **argv)
{
  g_autoptr(GMainLoop) loop = g_main_loop_new (NULL, FALSE);
  /* the trailing space adds libsoup's own product token, as the runner's header does */
  g_autoptr(SoupServer) server = soup_server_new ("server-header", "minimal ", NULL);
  g_autoptr(GError) error = NULL;
  GSList *uris;
  g_autofree char *url = NULL;

  soup_server_add_handler (server, NULL, answer, NULL, NULL);
  if (!soup_server_listen_local (server, 0, SOUP_SERVER_LISTEN_IPV4_ONLY, &error))
    {
      fprintf (stderr, "minimal-server: %s\n", error->message);
      return 1;
    }
  uris = soup_server_get_uris (server);
  url = g_uri_to_string (uris->data);
  g_slist_free_full (uris, (GDestroyNotify) g_uri_unref);
  printf ("minimal-server listening on %s\n", url);
  fflush (stdout);
  g_unix_signal_add (SIGINT, on_signal, loop);
  g_unix_signal_add (SIGTERM, on_signal, loop);
  g_main_loop_run (loop);
  return 0;
}
