/* mr-toolbox-ports.c: GET /port and GET /port/{port}/in-use.
 *
 * The listening ports are read from /proc/net/tcp (and tcp6, where dual-stack servers
 * such as node's appear only) at each request, which is what the daemon's 1 s cache
 * holds at best. A port not listed is dialled on localhost with a 50 ms timeout, as the
 * daemon does, without blocking the server thread. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "mr-toolbox-private.h"
#include "mr-util.h"

#define DIAL_TIMEOUT_MS 50
#define TCP_LISTEN 0x0A

static void
read_listening (const char *file, GHashTable *ports)
{
  g_autofree char *text = NULL;
  g_auto(GStrv) lines = NULL;

  if (!g_file_get_contents (file, &text, NULL, NULL))
    return;
  lines = g_strsplit (text, "\n", -1);
  /* "sl local_address rem_address st ...", the first line is the header */
  for (char **l = lines[0] ? lines + 1 : lines; *l; l++)
    {
      g_auto(GStrv) f = g_strsplit_set (g_strstrip (*l), " ", -1);
      const char *local = NULL, *state = NULL;
      guint n = 0;
      for (char **p = f; *p; p++)
        if (**p)
          {
            if (n == 1)
              local = *p;
            else if (n == 3)
              state = *p;
            n++;
          }
      if (local && state && strtoul (state, NULL, 16) == TCP_LISTEN)
        {
          const char *colon = strrchr (local, ':');
          if (colon)
            g_hash_table_add (ports, GUINT_TO_POINTER ((guint) strtoul (colon + 1, NULL, 16)));
        }
    }
}

static GHashTable *
listening_ports (void)
{
  GHashTable *ports = g_hash_table_new (NULL, NULL);

  read_listening ("/proc/net/tcp", ports);
  read_listening ("/proc/net/tcp6", ports);
  return ports;
}

static int
compare_ports (gconstpointer a, gconstpointer b)
{
  guint pa = GPOINTER_TO_UINT (*(gconstpointer *) a), pb = GPOINTER_TO_UINT (*(gconstpointer *) b);

  return pa < pb ? -1 : pa > pb;
}

static void
handle_ports (MrTbCall *call)
{
  g_autoptr(GHashTable) ports = listening_ports ();
  g_autoptr(GPtrArray) sorted = g_ptr_array_new ();
  g_autoptr(JsonObject) o = json_object_new ();
  g_autoptr(JsonNode) node = NULL;
  JsonArray *list = json_array_new ();
  GHashTableIter iter;
  gpointer key;

  g_hash_table_iter_init (&iter, ports);
  while (g_hash_table_iter_next (&iter, &key, NULL))
    g_ptr_array_add (sorted, key);
  g_ptr_array_sort (sorted, compare_ports);
  for (guint i = 0; i < sorted->len; i++)
    json_array_add_int_element (list, GPOINTER_TO_UINT (sorted->pdata[i]));
  json_object_set_array_member (o, "ports", list);
  node = json_node_init_object (json_node_alloc (), o);
  mr_tb_reply_json (call, 200, node);
}

static void
reply_in_use (MrTbCall *call, gboolean in_use)
{
  g_autoptr(JsonObject) o = json_object_new ();
  g_autoptr(JsonNode) node = NULL;

  json_object_set_boolean_member (o, "isInUse", in_use);
  node = json_node_init_object (json_node_alloc (), o);
  mr_tb_reply_json (call, 200, node);
}

typedef struct {
  MrTbCall *call;
  MrToolboxRequest *request;     /* keeps the call and its message alive */
  GCancellable *cancellable;
  GSource *timeout;
} Dial;

static gboolean
dial_timed_out (gpointer data)
{
  Dial *dial = data;

  /* the source is released in dial_done */
  g_cancellable_cancel (dial->cancellable);
  return G_SOURCE_REMOVE;
}

static void
dial_done (GObject *source, GAsyncResult *res, gpointer data)
{
  Dial *dial = data;
  g_autoptr(GSocketConnection) connection = NULL;

  connection = g_socket_client_connect_to_host_finish (G_SOCKET_CLIENT (source), res, NULL);
  if (connection)
    g_io_stream_close (G_IO_STREAM (connection), NULL, NULL);
  mr_source_clear (&dial->timeout);
  reply_in_use (dial->call, connection != NULL);
  soup_server_message_unpause (dial->call->msg);
  g_object_unref (dial->cancellable);
  mr_toolbox_request_unref (dial->request);
  g_free (dial);
}

/* Go's strconv.Atoi: an optional sign and decimal digits that fit */
static gboolean
parse_go_int (const char *text, gint64 *value)
{
  const char *p = text;
  char *end = NULL;

  if (*p == '+' || *p == '-')
    p++;
  if (*p == '\0')
    return FALSE;
  for (const char *q = p; *q; q++)
    if (!g_ascii_isdigit (*q))
      return FALSE;
  errno = 0;
  *value = g_ascii_strtoll (text, &end, 10);
  return errno == 0 && end && *end == '\0';
}

static void
handle_in_use (MrTbCall *call)
{
  const char *text = mr_tb_param (call, "port");
  g_autoptr(GHashTable) ports = NULL;
  g_autoptr(GSocketClient) client = NULL;
  gint64 port;
  Dial *dial;

  if (text == NULL || !parse_go_int (text, &port))
    {
      mr_tb_reply_error (call, 400, "invalid port: must be a number between 3000 and 9999");
      return;
    }
  if (port < 3000 || port > 9999)
    {
      mr_tb_reply_error (call, 400, "port out of range: must be between 3000 and 9999");
      return;
    }
  ports = listening_ports ();
  if (g_hash_table_contains (ports, GUINT_TO_POINTER ((guint) port)))
    {
      reply_in_use (call, TRUE);
      return;
    }

  dial = g_new0 (Dial, 1);
  dial->call = call;
  dial->request = mr_toolbox_request_ref (call->request);
  dial->cancellable = g_cancellable_new ();
  dial->timeout = mr_timeout_add (DIAL_TIMEOUT_MS, dial_timed_out, dial);
  soup_server_message_pause (call->msg);
  client = g_socket_client_new ();
  g_socket_client_connect_to_host_async (client, "localhost", (guint16) port, dial->cancellable, dial_done, dial);
}

static const MrRoute routes[] = {
  { "GET", "/port", handle_ports, NULL, 0, "port-list" },
  { "GET", "/port/{port}/in-use", handle_in_use, NULL, 0, "port-in-use" },
};

void
mr_tb_register_ports (MrRouter *router)
{
  mr_router_add_all (router, routes, G_N_ELEMENTS (routes));
}
