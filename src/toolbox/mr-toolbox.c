/* mr-toolbox.c: the toolbox object, its router and its dispatch.
 *
 * A request reaches the toolbox in two phases, in both ways of serving it: when its
 * headers are read (mr_toolbox_handle_headers) and when its body is (handle_body).
 * Routes flagged MR_TB_STREAM_BODY run in the first phase and read the body themselves;
 * the others run in the second with the whole body. */
#include <string.h>

#include "mr-toolbox-private.h"
#include "mr-error.h"
#include "mr-http.h"
#include "mr-keepalive.h"

struct _MrToolbox {
  GObject parent_instance;
  char *work_dir;
  char *home_dir;
  char *version;
  MrRouter *router;
  GHashTable *areas;          /* name -> Area */
  MrToolboxRandomFunc random_func;
  gpointer random_data;
  GDestroyNotify random_destroy;
};

typedef struct {
  gpointer state;
  GDestroyNotify destroy;
} Area;

G_DEFINE_FINAL_TYPE (MrToolbox, mr_toolbox, G_TYPE_OBJECT)

static void
area_free (Area *area)
{
  if (area->destroy)
    area->destroy (area->state);
  g_free (area);
}

static void
mr_toolbox_init (MrToolbox *self)
{
  self->router = mr_router_new ();
  self->areas = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, (GDestroyNotify) area_free);
  self->version = g_strdup (MR_DAEMON_VERSION);
  mr_tb_register_info (self->router);
  mr_tb_register_env (self->router);
  mr_tb_register_system (self->router);
  mr_tb_register_files (self->router);
  mr_tb_register_process (self->router);
  mr_tb_register_sessions (self->router);
  mr_tb_register_pty (self->router);
  mr_tb_register_interpreter (self->router);
  mr_tb_register_git (self->router);
  mr_tb_register_ports (self->router);
  mr_tb_register_proxy (self->router);
  mr_tb_register_tier3 (self->router);
}

static void
mr_toolbox_finalize (GObject *object)
{
  MrToolbox *self = MR_TOOLBOX (object);

  g_hash_table_unref (self->areas);
  mr_router_free (self->router);
  if (self->random_destroy)
    self->random_destroy (self->random_data);
  g_free (self->work_dir);
  g_free (self->home_dir);
  g_free (self->version);
  G_OBJECT_CLASS (mr_toolbox_parent_class)->finalize (object);
}

static void
mr_toolbox_class_init (MrToolboxClass *klass)
{
  G_OBJECT_CLASS (klass)->finalize = mr_toolbox_finalize;
}

/**
 * mr_toolbox_new:
 * @work_dir: the work directory (relative paths resolve against it); created if missing
 * @home_dir: (nullable): the home directory reported at /user-home-dir and used as
 *   $HOME of processes; %NULL means @work_dir
 * @error: return location for a #GError
 *
 * Returns: (transfer full) (nullable): a toolbox
 */
MrToolbox *
mr_toolbox_new (const char *work_dir, const char *home_dir, GError **error)
{
  MrToolbox *self;
  const char *dirs[] = { work_dir, home_dir };

  for (guint i = 0; i < G_N_ELEMENTS (dirs); i++)
    if (dirs[i] && g_mkdir_with_parents (dirs[i], 0755) != 0)
      {
        int saved = errno;
        g_set_error (error, MR_ERROR, MR_ERROR_CONFIG, "cannot create toolbox directory %s: %s",
                     dirs[i], g_strerror (saved));
        return NULL;
      }
  self = g_object_new (MR_TYPE_TOOLBOX, NULL);
  self->work_dir = g_canonicalize_filename (work_dir, NULL);
  self->home_dir = g_canonicalize_filename (home_dir ? home_dir : work_dir, NULL);
  return self;
}

/**
 * mr_toolbox_set_random_func:
 * @self: a toolbox
 * @func: (scope notified) (nullable): the random source, or %NULL for GLib's
 * @user_data: (closure): data for @func
 * @destroy: (destroy user_data) (nullable): frees @user_data
 *
 * Sets where the toolbox draws its identifiers from (session command ids, interpreter
 * context ids, multipart boundaries), so that a seeded runner answers the same twice.
 */
void
mr_toolbox_set_random_func (MrToolbox *self, MrToolboxRandomFunc func, gpointer user_data, GDestroyNotify destroy)
{
  if (self->random_destroy)
    self->random_destroy (self->random_data);
  self->random_func = func;
  self->random_data = user_data;
  self->random_destroy = destroy;
}

static guint32
next_random (MrToolbox *self)
{
  return self->random_func ? self->random_func (self->random_data) : g_random_int ();
}

char *
mr_tb_random_hex (MrToolbox *toolbox, guint n_bytes)
{
  GString *out = g_string_sized_new (n_bytes * 2);

  for (guint i = 0; i < n_bytes; i++)
    g_string_append_printf (out, "%02x", next_random (toolbox) & 0xff);
  return g_string_free (out, FALSE);
}

char *
mr_tb_new_uuid (MrToolbox *toolbox)
{
  guint32 w[4];

  for (guint i = 0; i < 4; i++)
    w[i] = next_random (toolbox);
  return g_strdup_printf ("%08x-%04x-4%03x-%04x-%04x%08x", w[0], w[1] >> 16, w[1] & 0xfff,
                          ((w[2] >> 16) & 0x3fff) | 0x8000, w[2] & 0xffff, w[3]);
}

/**
 * mr_toolbox_get_work_dir:
 * @self: a toolbox
 *
 * Returns: (transfer none): the work directory
 */
const char *
mr_toolbox_get_work_dir (MrToolbox *self)
{
  return self->work_dir;
}

/**
 * mr_toolbox_get_home_dir:
 * @self: a toolbox
 *
 * Returns: (transfer none): the home directory
 */
const char *
mr_toolbox_get_home_dir (MrToolbox *self)
{
  return self->home_dir;
}

/**
 * mr_toolbox_get_version:
 * @self: a toolbox
 *
 * Returns: (transfer none): the version GET /version reports
 */
const char *
mr_toolbox_get_version (MrToolbox *self)
{
  return self->version;
}

/**
 * mr_toolbox_reset:
 * @self: a toolbox
 *
 * Ends every session, PTY, interpreter context and other process the toolbox started,
 * and forgets them. Files in the work directory are kept.
 */
void
mr_toolbox_reset (MrToolbox *self)
{
  mr_tb_area_reset (self);
}

/**
 * mr_toolbox_shutdown:
 * @self: a toolbox
 *
 * Like mr_toolbox_reset(); called before the toolbox is dropped.
 */
void
mr_toolbox_shutdown (MrToolbox *self)
{
  mr_tb_area_reset (self);
}

gpointer
mr_tb_area_get (MrToolbox *toolbox, const char *area)
{
  Area *a = g_hash_table_lookup (toolbox->areas, area);

  return a ? a->state : NULL;
}

void
mr_tb_area_set (MrToolbox *toolbox, const char *area, gpointer state, GDestroyNotify destroy)
{
  Area *a = g_new0 (Area, 1);

  a->state = state;
  a->destroy = destroy;
  g_hash_table_replace (toolbox->areas, g_strdup (area), a);
}

void
mr_tb_area_reset (MrToolbox *toolbox)
{
  g_hash_table_remove_all (toolbox->areas);
}

/* Dispatch ----------------------------------------------------------------------- */

static void
call_free (MrTbCall *call)
{
  g_free (call->path);
  g_clear_pointer (&call->params, mr_route_params_free);
  g_clear_pointer (&call->query, g_hash_table_unref);
  g_clear_pointer (&call->body, g_bytes_unref);
  g_free (call);
}

/**
 * mr_toolbox_handle_headers:
 * @self: a toolbox
 * @request: a request whose headers have been read
 *
 * First phase of a request; see mr_toolbox_handle_body().
 */
void
mr_toolbox_handle_headers (MrToolbox *self, MrToolboxRequest *request)
{
  SoupServerMessage *msg = mr_toolbox_request_get_message (request);
  const char *raw_path = mr_toolbox_request_get_path (request);
  const char *query = mr_toolbox_request_get_query (request);
  const char *method = soup_server_message_get_method (msg);
  g_autofree char *redirect = NULL;
  MrTbCall *call = g_new0 (MrTbCall, 1);

  call->toolbox = self;
  call->request = request;
  call->msg = msg;
  call->path = g_uri_unescape_string (raw_path, NULL);
  if (call->path == NULL)
    call->path = g_strdup (raw_path);
  call->query = query ? soup_form_decode (query)
                      : g_hash_table_new_full (g_str_hash, g_str_equal, g_free, g_free);
  mr_toolbox_request_set_data (request, call, (GDestroyNotify) call_free);

  switch (mr_router_match (self->router, method, call->path, &call->route, &call->params, &redirect))
    {
    case MR_ROUTE_MATCH_FOUND:
      break;
    case MR_ROUTE_MATCH_REDIRECT:
      {
        /* gin's trailing-slash redirect, under the prefix the client used */
        g_autofree char *location = query ? g_strconcat (redirect, "?", query, NULL) : g_strdup (redirect);
        g_autofree char *rewritten = mr_toolbox_request_rewrite_location (request, location);
        mr_http_redirect (msg, rewritten);
        return;
      }
    default:
      soup_message_body_set_accumulate (soup_server_message_get_request_body (msg), FALSE);
      mr_tb_reply_not_found_route (call);
      return;
    }
  if (call->route->flags & MR_TB_STREAM_BODY)
    ((MrTbHandler) call->route->handler) (call);
}

/**
 * mr_toolbox_handle_body:
 * @self: a toolbox
 * @request: a request whose body has been read
 *
 * Second phase of a request: runs its route with the whole body, unless the route
 * streams or an answer was already given.
 */
void
mr_toolbox_handle_body (MrToolbox *self, MrToolboxRequest *request)
{
  MrTbCall *call = mr_toolbox_request_get_data (request);

  if (call == NULL || call->route == NULL || (call->route->flags & MR_TB_STREAM_BODY) ||
      soup_server_message_get_status (call->msg) != 0)
    return;
  call->body = soup_message_body_flatten (soup_server_message_get_request_body (call->msg));
  ((MrTbHandler) call->route->handler) (call);
}

/* The request refs the message it is stored on: drop it once the message is done
 * ("disconnected" covers connections stolen by a WebSocket upgrade). */
static void
release_request (SoupServerMessage *msg, gpointer unused)
{
  g_object_set_data (G_OBJECT (msg), "mr-toolbox-request", NULL);
}

static void
serve_early (SoupServer *server, SoupServerMessage *msg, const char *path,
             GHashTable *query, gpointer user_data)
{
  MrToolbox *self = user_data;
  MrToolboxRequest *request = mr_toolbox_request_new (msg, NULL, g_uri_get_path (soup_server_message_get_uri (msg)), "");

  mr_toolbox_request_set_server (request, server);

  g_object_set_data_full (G_OBJECT (msg), "mr-toolbox-request", request, (GDestroyNotify) mr_toolbox_request_unref);
  g_signal_connect (msg, "finished", G_CALLBACK (release_request), NULL);
  g_signal_connect (msg, "disconnected", G_CALLBACK (release_request), NULL);
  mr_toolbox_handle_headers (self, request);
}

static void
serve_body (SoupServer *server, SoupServerMessage *msg, const char *path,
            GHashTable *query, gpointer user_data)
{
  MrToolboxRequest *request = g_object_get_data (G_OBJECT (msg), "mr-toolbox-request");

  if (request)
    mr_toolbox_handle_body (user_data, request);
}

/**
 * mr_toolbox_serve:
 * @self: a toolbox
 * @server: a server (create it with "raw-paths" set to %TRUE)
 *
 * Serves the toolbox API at the root of @server, as the daemon does on port 2280.
 */
void
mr_toolbox_serve (MrToolbox *self, SoupServer *server)
{
  mr_keepalive_watch (server);
  soup_server_add_early_handler (server, NULL, serve_early, g_object_ref (self), g_object_unref);
  soup_server_add_handler (server, NULL, serve_body, g_object_ref (self), g_object_unref);
}

/* Helpers for the area files --------------------------------------------------- */

const char *
mr_tb_param (MrTbCall *call, const char *name)
{
  return mr_route_params_get (call->params, name);
}

const char *
mr_tb_query (MrTbCall *call, const char *name)
{
  return g_hash_table_lookup (call->query, name);
}

const char *
mr_tb_status_text (guint status)
{
  switch (status)
    {
    case 400: return "Bad Request";
    case 401: return "Unauthorized";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 408: return "Request Timeout";
    case 409: return "Conflict";
    case 410: return "Gone";
    case 413: return "Request Entity Too Large";
    case 422: return "Unprocessable Entity";
    case 500: return "Internal Server Error";
    case 502: return "Bad Gateway";
    case 503: return "Service Unavailable";
    default: return soup_status_get_phrase (status);
    }
}

void
mr_tb_reply_error (MrTbCall *call, guint status, const char *message)
{
  g_autoptr(JsonNode) body = mr_http_error_body (status, mr_tb_status_text (status), message, call->path,
                                                 soup_server_message_get_method (call->msg));
  char *text = mr_http_json_to_string (body);

  soup_server_message_set_status (call->msg, status, NULL);
  soup_server_message_set_response (call->msg, "application/json", SOUP_MEMORY_TAKE, text, strlen (text));
}

void
mr_tb_reply_error_printf (MrTbCall *call, guint status, const char *format, ...)
{
  va_list args;
  g_autofree char *message = NULL;

  va_start (args, format);
  message = g_strdup_vprintf (format, args);
  va_end (args);
  mr_tb_reply_error (call, status, message);
}

void
mr_tb_reply_error_b (MrTbCall *call, guint status, const char *message)
{
  g_autoptr(JsonObject) o = json_object_new ();
  g_autoptr(JsonNode) node = NULL;

  json_object_set_string_member (o, "error", message);
  node = json_node_init_object (json_node_alloc (), o);
  mr_tb_reply_json (call, status, node);
}

void
mr_tb_reply_json (MrTbCall *call, guint status, JsonNode *node)
{
  mr_http_reply_json (call->msg, status, node);
}

void
mr_tb_reply_empty (MrTbCall *call, guint status)
{
  SoupMessageHeaders *headers = soup_server_message_get_response_headers (call->msg);

  if (status == SOUP_STATUS_NO_CONTENT)
    {
      mr_http_reply_bodiless (call->msg, status);
      return;
    }
  soup_server_message_set_status (call->msg, status, NULL);
  soup_message_headers_set_content_length (headers, 0);
}

void
mr_tb_reply_not_found_route (MrTbCall *call)
{
  static const char text[] = "404 page not found";

  soup_server_message_set_status (call->msg, 404, NULL);
  soup_server_message_set_response (call->msg, "text/plain", SOUP_MEMORY_STATIC, text, sizeof text - 1);
}

JsonObject *
mr_tb_parse_body_object (MrTbCall *call, GError **error)
{
  g_autoptr(JsonParser) parser = json_parser_new_immutable ();
  gsize len = 0;
  const char *data = call->body ? g_bytes_get_data (call->body, &len) : NULL;
  JsonNode *root;

  if (data == NULL || len == 0)
    {
      g_set_error_literal (error, MR_ERROR, MR_ERROR_INVALID_BODY, "EOF");
      return NULL;
    }
  if (!json_parser_load_from_data (parser, data, len, error))
    return NULL;
  root = json_parser_get_root (parser);
  if (!JSON_NODE_HOLDS_OBJECT (root))
    {
      g_set_error_literal (error, MR_ERROR, MR_ERROR_INVALID_BODY, "request body must be a JSON object");
      return NULL;
    }
  return json_object_ref (json_node_get_object (root));
}

const char *
mr_tb_sdk_version (MrTbCall *call)
{
  SoupMessageHeaders *h = soup_server_message_get_request_headers (call->msg);
  const char *version = soup_message_headers_get_one (h, "X-Daytona-SDK-Version");
  const char *protocols;

  if (version)
    return version;
  /* browsers cannot set WebSocket headers: the SDK offers "X-Daytona-SDK-Version~<v>" */
  protocols = soup_message_headers_get_one (h, "Sec-WebSocket-Protocol");
  if (protocols)
    {
      const char *p = strstr (protocols, "X-Daytona-SDK-Version~");
      if (p)
        {
          g_autofree char *v = g_strdup (p + strlen ("X-Daytona-SDK-Version~"));
          char *end = strpbrk (v, ", ");
          if (end)
            *end = '\0';
          g_object_set_data_full (G_OBJECT (call->msg), "mr-sdk-version", g_steal_pointer (&v), g_free);
          return g_object_get_data (G_OBJECT (call->msg), "mr-sdk-version");
        }
    }
  return NULL;
}

/* WebSockets ----------------------------------------------------------------------- */

typedef struct {
  MrTbCall *call;
  MrTbWebsocketFunc func;
  gpointer data;
  GDestroyNotify destroy;
} Upgrade;

static void
upgrade_free (gpointer data, GClosure *closure)
{
  Upgrade *u = data;

  if (u->destroy)
    u->destroy (u->data);
  g_free (u);
}

static void
complete_upgrade (SoupServerMessage *msg, Upgrade *u)
{
  GUri *uri = soup_server_message_get_uri (msg);
  SoupMessageHeaders *req = soup_server_message_get_request_headers (msg);
  SoupMessageHeaders *resp = soup_server_message_get_response_headers (msg);
  g_autoptr(GIOStream) stream = NULL;
  g_autoptr(SoupWebsocketConnection) connection = NULL;

  g_autoptr(MrToolboxRequest) request = NULL;

  if (soup_server_message_get_status (msg) != SOUP_STATUS_SWITCHING_PROTOCOLS)
    return;
  /* stealing the connection emits "disconnected", which releases the request that owns
   * u->call: keep it alive until the callback is done */
  request = mr_toolbox_request_ref (u->call->request);
  g_object_ref (msg);
  stream = soup_server_message_steal_connection (msg);
  connection = soup_websocket_connection_new (stream, uri, SOUP_WEBSOCKET_CONNECTION_SERVER,
                                              soup_message_headers_get_one (req, "Origin"),
                                              soup_message_headers_get_one (resp, "Sec-WebSocket-Protocol"),
                                              NULL);
  /* keep the connection alive for as long as it is open; the callback takes its own refs */
  u->func (u->call, connection, u->data);
  g_object_unref (msg);
}

gboolean
mr_tb_is_websocket_request (MrTbCall *call)
{
  SoupMessageHeaders *h = soup_server_message_get_request_headers (call->msg);

  return soup_message_headers_header_contains (h, "Upgrade", "websocket") ||
         soup_message_headers_header_contains (h, "Upgrade", "WebSocket");
}

gboolean
mr_tb_accept_websocket (MrTbCall *call, const char * const *protocols,
                        MrTbWebsocketFunc func, gpointer user_data, GDestroyNotify destroy)
{
  g_autoptr(GError) error = NULL;
  Upgrade *u;

  if (!soup_websocket_server_check_handshake (call->msg, NULL, (char **) protocols, NULL, &error))
    {
      mr_tb_reply_error (call, 400, error->message);
      if (destroy)
        destroy (user_data);
      return FALSE;
    }
  soup_websocket_server_process_handshake (call->msg, NULL, (char **) protocols, NULL, NULL);
  u = g_new0 (Upgrade, 1);
  u->call = call;
  u->func = func;
  u->data = user_data;
  u->destroy = destroy;
  g_signal_connect_data (call->msg, "wrote-informational", G_CALLBACK (complete_upgrade), u,
                         upgrade_free, 0);
  return TRUE;
}
