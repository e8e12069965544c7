/* mr-runner.c: the runner object.
 *
 * Threading: mr_runner_start() spawns one server thread with its own GMainContext.
 * That thread loads and starts the plugins, listens, and then owns the SoupServer,
 * every plugin and all state. Public methods called from another thread (Python's)
 * are marshalled into that context and waited for with a bound. Signals are emitted
 * on the server thread. */
#include <string.h>

#include <glib/gstdio.h>

#include "mr-runner-private.h"
#include "mr-error.h"
#include "mr-http.h"
#include "mr-keepalive.h"
#include "mr-reply-batch.h"
#include "mr-enums.h"

#define DEFAULT_START_TIMEOUT_SEC 300
#define INVOKE_TIMEOUT_SEC 60
#define DEFAULT_JOURNAL_SIZE 10000

typedef enum {
  START_IDLE,
  START_PENDING,
  START_READY,
  START_FAILED,
} StartState;

struct _MrRunner {
  GObject parent_instance;

  MrConfig *config;
  char *generated_token;

  GMutex lock;
  GCond cond;
  StartState start_state;
  GError *start_error;
  GThread *thread;
  GMainContext *context;
  GMainLoop *loop;

  SoupServer *server;
  MrReplyBatch *reply_batch;   /* the server's complete replies leave at the end of a turn */
  guint16 port;
  char *url;
  gint64 started_at;     /* wall clock, for process_start_time_seconds */

  MrRouter *router;
  GPtrArray *plugins;    /* MrPlugin, in start order */
  GPtrArray *plugin_infos;
  MrSandboxBackend *sandbox_backend;
  MrImageBackend *image_backend;
  MrToolboxBackend *toolbox_backend;
  MrSshBackend *ssh_backend;

  GRand *rand;
  gint64 seed;           /* -1: not seeded */
  MrJournal *journal;
  MrFaults *faults;
  MrTiming *timing;
  MrClock *clock;        /* what expires and ages reads the time here (mr-clock.c) */
  gboolean shutting_down; /* requests cut by the shutdown are not reported */
  gboolean accept_any_token;  /* ACCEPT_ANY_TOKEN, read at start: checked on every request */
  MrTimingMode timing_mode;  /* the baseline, as the properties set it */
  guint timing_delay;
  MrMetrics *metrics;
  MrHostInfo *host_info;
  char *state_dir;
  MrSshAccessStore *ssh_access;   /* tokens of POST /sandboxes/{id}/ssh-access */
};

enum {
  PROP_0,
  PROP_TOKEN,
  PROP_PORT,
  PROP_HOST,
  PROP_URL,
  PROP_RUNNING,
  PROP_SANDBOX_BACKEND,
  PROP_IMAGE_BACKEND,
  PROP_TOOLBOX_BACKEND,
  PROP_SSH_BACKEND,
  PROP_OPTIONS,
  PROP_SEED,
  PROP_TIMING_MODE,
  PROP_TIMING_DELAY,
  PROP_JOURNAL_SIZE,
  N_PROPS
};

enum {
  SIGNAL_SANDBOX_STATE_CHANGED,
  SIGNAL_IMAGE_ADDED,
  SIGNAL_IMAGE_REMOVED,
  SIGNAL_REQUEST_SERVED,
  N_SIGNALS
};

static GParamSpec *properties[N_PROPS];
static guint signals[N_SIGNALS];

G_DEFINE_FINAL_TYPE (MrRunner, mr_runner, G_TYPE_OBJECT)

/* Cross-thread calls ------------------------------------------------------------- */

/* The invocation holds no reference on the runner: the caller's keeps it alive while it
 * waits, and a reference released on the server thread could be the last one. A caller
 * that gives up abandons the invocation, unless it already runs (its data lives on the
 * caller's stack, so the caller then waits for the end). */
typedef struct {
  gatomicrefcount ref;
  GMutex lock;
  GCond cond;
  gboolean running;
  gboolean done;
  gboolean abandoned;
  void (*func) (MrRunner *, gpointer);
  MrRunner *runner;
  gpointer data;
} Invocation;

static void
invocation_unref (Invocation *inv)
{
  if (!g_atomic_ref_count_dec (&inv->ref))
    return;
  g_mutex_clear (&inv->lock);
  g_cond_clear (&inv->cond);
  g_free (inv);
}

static gboolean
invocation_run (gpointer data)
{
  Invocation *inv = data;
  gboolean abandoned;

  g_mutex_lock (&inv->lock);
  abandoned = inv->abandoned;
  inv->running = !abandoned;
  g_mutex_unlock (&inv->lock);
  if (abandoned)
    return G_SOURCE_REMOVE;
  inv->func (inv->runner, inv->data);
  g_mutex_lock (&inv->lock);
  inv->done = TRUE;
  g_cond_signal (&inv->cond);
  g_mutex_unlock (&inv->lock);
  return G_SOURCE_REMOVE;
}

/* Runs @func on the server thread and waits for it (or runs it here if this is the
 * server thread, or if the runner is not running). Returns FALSE on timeout. */
gboolean
mr_runner_run_on_server (MrRunner *self, MrServerFunc func, gpointer data)
{
  Invocation *inv;
  gint64 deadline;
  gboolean done;

  if (self->context == NULL || self->start_state != START_READY || g_main_context_is_owner (self->context))
    {
      func (self, data);
      return TRUE;
    }
  inv = g_new0 (Invocation, 1);
  g_atomic_ref_count_init (&inv->ref);
  g_atomic_ref_count_inc (&inv->ref);   /* one for the source */
  g_mutex_init (&inv->lock);
  g_cond_init (&inv->cond);
  inv->func = func;
  inv->runner = self;
  inv->data = data;
  g_main_context_invoke_full (self->context, G_PRIORITY_DEFAULT, invocation_run, inv,
                              (GDestroyNotify) invocation_unref);
  deadline = g_get_monotonic_time () + INVOKE_TIMEOUT_SEC * G_TIME_SPAN_SECOND;
  g_mutex_lock (&inv->lock);
  while (!inv->done)
    if (!g_cond_wait_until (&inv->cond, &inv->lock, deadline))
      {
        if (!inv->running)
          break;
        while (!inv->done)
          g_cond_wait (&inv->cond, &inv->lock);
      }
  done = inv->done;
  inv->abandoned = !done;
  g_mutex_unlock (&inv->lock);
  invocation_unref (inv);
  if (!done)
    g_warning ("mock-runner: the server thread did not answer within %d s", INVOKE_TIMEOUT_SEC);
  return done;
}

/* Exchanges ---------------------------------------------------------------------- */

static void
exchange_free (MrExchange *ex)
{
  g_clear_pointer (&ex->params, mr_route_params_free);
  g_clear_pointer (&ex->query, g_hash_table_unref);
  g_clear_pointer (&ex->body, g_bytes_unref);
  g_clear_pointer (&ex->toolbox, mr_toolbox_request_unref);
  mr_journal_tracker_free (ex->journal);
  g_free (ex->sandbox_id);
  g_free (ex);
}

/* looked up on every request: interned once (a lookup takes GLib's global quark lock),
 * as G_DEFINE_QUARK does, without exporting a function */
static GQuark
exchange_quark (void)
{
  static GQuark quark;

  if (G_UNLIKELY (quark == 0))
    quark = g_quark_from_static_string ("mr-exchange");
  return quark;
}

MrExchange *
mr_exchange_get (SoupServerMessage *msg)
{
  /* by quark: looking the name up takes the global quark lock, several times a request */
  return g_object_get_qdata (G_OBJECT (msg), exchange_quark ());
}

const char *
mr_exchange_param (MrExchange *ex, const char *name)
{
  return mr_route_params_get (ex->params, name);
}

const char *
mr_exchange_query (MrExchange *ex, const char *name)
{
  return ex->query ? g_hash_table_lookup (ex->query, name) : NULL;
}

/* Authentication ----------------------------------------------------------------- */

static gboolean
token_equal (const char *a, const char *b)
{
  /* constant time in the length of the expected token */
  gsize la = strlen (a), lb = strlen (b);
  guint8 diff = la != lb;

  for (gsize i = 0; i < lb; i++)
    diff |= (guint8) (b[i] ^ (i < la ? a[i] : 0));
  return diff == 0;
}

/* Returns NULL if authorized, else the message for the 401 body. ACCEPT_ANY_TOKEN=true
 * is the Go mock's check (any Bearer token; the seed README registers the runner with an
 * API key that differs from its API_TOKEN); the test controls keep the real token. */
static const char *
check_auth (MrRunner *self, SoupMessageHeaders *headers, const char *daytona_auth, guint flags)
{
  const char *value = daytona_auth && *daytona_auth ? daytona_auth
                      : soup_message_headers_get_one (headers, "Authorization");
  const char *token;

  if (value == NULL || *value == '\0')
    return "unauthorized: authorization header required";
  /* exactly two parts split on single spaces (Go's strings.Split): "Bearer" and the token */
  if (!g_str_has_prefix (value, "Bearer ") || strchr (value + strlen ("Bearer "), ' '))
    return "unauthorized: invalid authorization header format";
  if (!(flags & MR_ROUTE_CONTROL) && self->accept_any_token)
    return NULL;
  token = value + strlen ("Bearer ");
  if (!token_equal (token, mr_runner_get_token (self)))
    return "unauthorized: invalid token";
  return NULL;
}

/* The request pipeline ----------------------------------------------------------- */

static void
on_got_chunk (SoupServerMessage *msg, GBytes *chunk, gpointer user_data)
{
  MrExchange *ex = user_data;

  ex->body_bytes += g_bytes_get_size (chunk);
  if (!ex->too_large && ex->body_bytes > ex->runner->config->max_body_size)
    {
      SoupMessageBody *body = soup_server_message_get_request_body (msg);
      ex->too_large = TRUE;
      soup_message_body_set_accumulate (body, FALSE);
      soup_message_body_truncate (body);
    }
}

static void
discard_request_body (SoupServerMessage *msg)
{
  soup_message_body_set_accumulate (soup_server_message_get_request_body (msg), FALSE);
}

static void
reply_too_large (MrRunner *self, SoupServerMessage *msg)
{
  g_autofree char *message = g_strdup_printf ("payload too large: request body exceeds %" G_GUINT64_FORMAT " bytes",
                                              self->config->max_body_size);
  discard_request_body (msg);
  mr_http_reply_error (msg, 413, "PAYLOAD_TOO_LARGE", message);
}

/* The toolbox request refs the message it is stored on (through the exchange): drop
 * that reference once the message is done, or neither would ever be freed. "finished" is
 * not emitted for a connection stolen by a WebSocket upgrade; "disconnected" is. */
static void
release_toolbox_request (SoupServerMessage *msg, MrExchange *ex)
{
  g_clear_pointer (&ex->toolbox, mr_toolbox_request_unref);
}

/**
 * mr_exchange_set_toolbox: (skip)
 * @ex: an exchange
 * @request: (transfer full): the toolbox request serving it
 *
 * Only toolbox requests pay for the two signal handlers that release them.
 */
void
mr_exchange_set_toolbox (MrExchange *ex, MrToolboxRequest *request)
{
  if (ex->toolbox == NULL)
    {
      g_signal_connect (ex->msg, "finished", G_CALLBACK (release_toolbox_request), ex);
      g_signal_connect (ex->msg, "disconnected", G_CALLBACK (release_toolbox_request), ex);
    }
  else
    mr_toolbox_request_unref (ex->toolbox);
  ex->toolbox = request;
}

static void
on_request_started (SoupServer *server, SoupServerMessage *msg, MrRunner *self)
{
  MrExchange *ex = g_new0 (MrExchange, 1);

  ex->runner = self;
  ex->msg = msg;
  ex->started_us = g_get_monotonic_time ();
  g_object_set_qdata_full (G_OBJECT (msg), exchange_quark (), ex, (GDestroyNotify) exchange_free);
  /* the request journal follows every request to its reply (mr-journal.c) */
  ex->journal = mr_journal_watch (self, ex);
}

/* The route's own early handler, when nothing (no fault rule) stopped the request. */
static void
run_route_early_handler (MrExchange *ex)
{
  if (ex->route->early_handler)
    ((MrRouteHandler) ex->route->early_handler) (ex);
}

static void
early_handler (SoupServer *server, SoupServerMessage *msg, const char *path_unused,
               GHashTable *query, gpointer user_data)
{
  MrRunner *self = user_data;
  MrExchange *ex = mr_exchange_get (msg);
  SoupMessageHeaders *headers = soup_server_message_get_request_headers (msg);
  GUri *uri = soup_server_message_get_uri (msg);
  const char *method = soup_server_message_get_method (msg);
  const char *path = g_uri_get_path (uri);
  g_autofree char *daytona_auth = g_strdup (soup_message_headers_get_one (headers, "X-Daytona-Authorization"));
  g_autofree char *redirect = NULL;
  const MrRoute *route = NULL;
  const char *auth_failure;
  goffset length;
  MrRouteMatch match;

  match = mr_router_match (self->router, method, path, &route, &ex->params, &redirect);
  if (match == MR_ROUTE_MATCH_FOUND)
    {
      ex->route = route;
      ex->sandbox_id = g_strdup (mr_exchange_param (ex, "id"));
    }
  /* the journal records the headers as the client sent them (and the route, from here) */
  mr_journal_capture (ex);
  /* never forwarded to a toolbox, whatever happens next */
  if (daytona_auth)
    soup_message_headers_remove (headers, "X-Daytona-Authorization");

  switch (match)
    {
    case MR_ROUTE_MATCH_FOUND:
      break;
    case MR_ROUTE_MATCH_REDIRECT:
      {
        const char *q = g_uri_get_query (uri);
        g_autofree char *location = q ? g_strconcat (redirect, "?", q, NULL) : g_strdup (redirect);
        mr_http_redirect (msg, location);
        return;
      }
    case MR_ROUTE_MATCH_WRONG_METHOD:
      {
        g_autofree char *allowed = mr_router_allowed_methods (self->router, path);
        g_autofree char *message = g_strdup_printf ("not found: %s is not served for %s (allowed: %s)",
                                                    method, path, allowed);
        discard_request_body (msg);
        soup_message_headers_replace (soup_server_message_get_response_headers (msg), "Allow", allowed);
        /* Gin answers 404 here: method-not-allowed handling is off in every runner */
        mr_http_reply_error (msg, 404, "NOT_FOUND", message);
        return;
      }
    case MR_ROUTE_MATCH_NONE:
    default:
      {
        g_autofree char *message = g_strdup_printf ("not found: no route for %s %s", method, path);
        discard_request_body (msg);
        mr_http_reply_error (msg, 404, "NOT_FOUND", message);
        return;
      }
    }

  if (!(route->flags & (MR_ROUTE_PUBLIC | MR_ROUTE_OWN_AUTH)) &&
      !((route->flags & MR_ROUTE_METRICS) && !self->config->metrics_auth) &&
      (auth_failure = check_auth (self, headers, daytona_auth, route->flags)) != NULL)
    {
      discard_request_body (msg);
      mr_http_reply_error (msg, 401, "UNAUTHORIZED", auth_failure);
      return;
    }

  if (!(route->flags & MR_ROUTE_STREAM))
    {
      length = soup_message_headers_get_content_length (headers);
      if (soup_message_headers_get_encoding (headers) == SOUP_ENCODING_CONTENT_LENGTH && length < 0)
        {
          /* "Content-Length: -5": no body length, so nothing after it can be framed
           * either (Go's server answers 400 and closes too) */
          discard_request_body (msg);
          soup_message_headers_replace (soup_server_message_get_response_headers (msg), "Connection", "close");
          mr_http_reply_error (msg, 400, "BAD_REQUEST", "bad request: invalid Content-Length");
          return;
        }
      if (soup_message_headers_get_encoding (headers) == SOUP_ENCODING_CONTENT_LENGTH &&
          (guint64) length > self->config->max_body_size)
        {
          reply_too_large (self, msg);
          return;
        }
      /* a signal handler per request costs as much as routing it: only where chunks come */
      if (mr_http_request_has_body (msg))
        g_signal_connect (msg, "got-chunk", G_CALLBACK (on_got_chunk), ex);
    }

  /* fault and latency rules (mr-faults.c) may answer, delay or drop the request */
  if (!(route->flags & MR_ROUTE_CONTROL) && mr_faults_intercept (self->faults, ex, run_route_early_handler))
    return;
  run_route_early_handler (ex);
}

static void
run_main_handler (MrRunner *self, SoupServerMessage *msg, MrExchange *ex, GHashTable *query)
{
  if (ex == NULL || ex->route == NULL)
    return;
  if (ex->too_large)
    {
      reply_too_large (self, msg);
      return;
    }
  if (query)
    ex->query = g_hash_table_ref (query);
  if (!(ex->route->flags & MR_ROUTE_STREAM))
    ex->body = soup_message_body_flatten (soup_server_message_get_request_body (msg));
  if (ex->route->handler)
    ((MrRouteHandler) ex->route->handler) (ex);
}

/* The body is read, and the main handler has run (or was skipped, the reply decided
 * earlier): the journal hears of it, and a reply set by now leaves with its turn's batch. */
static void
body_read (MrRunner *self, SoupServerMessage *msg, MrExchange *ex)
{
  if (soup_server_message_get_status (msg) != 0)
    mr_reply_batch_hold (self->reply_batch, msg);
  mr_journal_body_read (ex);
}

static void
main_handler (SoupServer *server, SoupServerMessage *msg, const char *path_unused,
              GHashTable *query, gpointer user_data)
{
  MrExchange *ex = mr_exchange_get (msg);

  run_main_handler (user_data, msg, ex, query);
  body_read (user_data, msg, ex);
}

/* Emitted when the body is read, before the handlers, which libsoup skips for a reply
 * decided earlier: the moment for those. */
static void
on_request_read (SoupServer *server, SoupServerMessage *msg, MrRunner *self)
{
  if (soup_server_message_get_status (msg) != 0)
    body_read (self, msg, mr_exchange_get (msg));
}

/* Both follow the message's own "finished" signal, so the journal hears of the end of
 * every request here rather than through a handler per message. */
static void
on_request_aborted (SoupServer *server, SoupServerMessage *msg, MrRunner *self)
{
  mr_journal_complete (mr_exchange_get (msg));
}

static void
on_request_finished (SoupServer *server, SoupServerMessage *msg, MrRunner *self)
{
  MrExchange *ex = mr_exchange_get (msg);
  guint status;

  mr_reply_batch_written (self->reply_batch, msg);
  mr_journal_complete (ex);
  status = soup_server_message_get_status (msg);

  mr_metrics_count_request (self->metrics, soup_server_message_get_method (msg),
                            ex && ex->route ? ex->route->pattern : "unmatched", status);
  /* ENVIRONMENT=development means debug logging (Gin's debug mode logs every request) */
  if (self->config->log_level <= MR_LOG_LEVEL_INFO || g_strcmp0 (self->config->environment, "development") == 0)
    g_info ("%s %s -> %u (%.1f ms)", soup_server_message_get_method (msg),
            g_uri_get_path (soup_server_message_get_uri (msg)), status,
            ex ? (g_get_monotonic_time () - ex->started_us) / 1000.0 : 0.0);
}

/* Plugins ------------------------------------------------------------------------ */

static MrPlugin *
load_plugin (MrRunner *self, MrPluginKind kind, const char *name, GError **error)
{
  g_auto(GStrv) search_path = mr_plugin_get_search_path ();
  /* TOOLBOX_BACKEND=docker (remote, local) is short for toolbox-docker (...) */
  g_autofree char *full_name = kind == MR_PLUGIN_KIND_TOOLBOX && strchr (name, '-') == NULL
                               ? g_strconcat ("toolbox-", name, NULL) : g_strdup (name);
  g_autoptr(MrPluginInfo) info = mr_plugin_find ((const char * const *) search_path, kind, full_name, error);
  g_autoptr(MrPlugin) plugin = NULL;

  if (info == NULL)
    return NULL;
  plugin = mr_plugin_info_create (info, error);
  if (plugin == NULL)
    return NULL;
  g_ptr_array_add (self->plugin_infos, mr_plugin_info_ref (info));
  if (!mr_plugin_setup (plugin, self, error))
    {
      g_prefix_error (error, "%s plugin '%s': ", mr_plugin_kind_to_string (kind), name);
      return NULL;
    }
  g_ptr_array_add (self->plugins, g_object_ref (plugin));
  /* borrowed: self->plugins holds the reference (returning ours leaked every plugin) */
  return plugin;
}

static gboolean
load_plugins (MrRunner *self, GError **error)
{
  MrConfig *c = self->config;
  MrPlugin *p;

  if (!(p = load_plugin (self, MR_PLUGIN_KIND_IMAGE, c->image_backend, error)))
    return FALSE;
  self->image_backend = MR_IMAGE_BACKEND (p);
  if (!(p = load_plugin (self, MR_PLUGIN_KIND_SANDBOX, c->sandbox_backend, error)))
    return FALSE;
  self->sandbox_backend = MR_SANDBOX_BACKEND (p);
  if (!(p = load_plugin (self, MR_PLUGIN_KIND_TOOLBOX, c->toolbox_backend, error)))
    return FALSE;
  self->toolbox_backend = MR_TOOLBOX_BACKEND (p);
  if (c->ssh_gateway_enable)
    {
      if (!(p = load_plugin (self, MR_PLUGIN_KIND_SSH, c->ssh_backend, error)))
        return FALSE;
      self->ssh_backend = MR_SSH_BACKEND (p);
    }
  for (guint i = 0; i < self->plugins->len; i++)
    if (!mr_plugin_start (self->plugins->pdata[i], error))
      {
        g_prefix_error (error, "%s: ", G_OBJECT_TYPE_NAME (self->plugins->pdata[i]));
        return FALSE;
      }
  return TRUE;
}

static void
unload_plugins (MrRunner *self)
{
  for (guint i = self->plugins->len; i > 0; i--)
    mr_plugin_stop (self->plugins->pdata[i - 1]);
  self->sandbox_backend = NULL;
  self->image_backend = NULL;
  self->toolbox_backend = NULL;
  self->ssh_backend = NULL;
  g_ptr_array_set_size (self->plugins, 0);
  g_ptr_array_set_size (self->plugin_infos, 0);
}

/* Serving ------------------------------------------------------------------------ */

static gboolean
listen (MrRunner *self, GError **error)
{
  MrConfig *c = self->config;
  SoupServerListenOptions options = c->enable_tls ? SOUP_SERVER_LISTEN_HTTPS : 0;
  g_autoptr(GError) local = NULL;
  g_autoptr(GSList) uris = NULL;
  gboolean ok;
  const char *url_host;

  self->server = soup_server_new ("server-header", "mock-runner ", "raw-paths", TRUE, NULL);
  if (c->enable_tls)
    {
      g_autoptr(GTlsCertificate) cert = g_tls_certificate_new_from_files (c->tls_cert_file, c->tls_key_file, &local);
      if (cert == NULL)
        {
          g_set_error (error, MR_ERROR, MR_ERROR_CONFIG, "cannot load TLS certificate %s / key %s: %s",
                       c->tls_cert_file, c->tls_key_file, local->message);
          return FALSE;
        }
      g_object_set (self->server, "tls-certificate", cert, NULL);
    }
  g_signal_connect (self->server, "request-started", G_CALLBACK (on_request_started), self);
  g_signal_connect (self->server, "request-finished", G_CALLBACK (on_request_finished), self);
  g_signal_connect (self->server, "request-aborted", G_CALLBACK (on_request_aborted), self);
  g_signal_connect (self->server, "request-read", G_CALLBACK (on_request_read), self);
  mr_keepalive_watch (self->server);
  soup_server_add_early_handler (self->server, NULL, early_handler, self, NULL);
  soup_server_add_handler (self->server, NULL, main_handler, self, NULL);

  if (c->api_host)
    {
      g_autoptr(GInetAddress) address = g_inet_address_new_from_string (c->api_host);
      g_autoptr(GSocketAddress) sockaddr = NULL;
      if (address == NULL)
        {
          g_set_error (error, MR_ERROR, MR_ERROR_CONFIG, "invalid value for API_HOST: '%s' (expected an IP address)",
                       c->api_host);
          return FALSE;
        }
      sockaddr = g_inet_socket_address_new (address, c->api_port);
      ok = soup_server_listen (self->server, sockaddr, options, &local);
    }
  else
    ok = soup_server_listen_all (self->server, c->api_port, options, &local);
  if (!ok)
    {
      if (g_error_matches (local, G_IO_ERROR, G_IO_ERROR_ADDRESS_IN_USE))
        g_set_error (error, MR_ERROR, MR_ERROR_CONFIG, "cannot start API server, port %u is already in use", c->api_port);
      else
        g_set_error (error, MR_ERROR, MR_ERROR_CONFIG, "cannot listen on port %u: %s", c->api_port, local->message);
      return FALSE;
    }

  self->reply_batch = mr_reply_batch_new (self->context);
  uris = soup_server_get_uris (self->server);
  self->port = uris ? g_uri_get_port (uris->data) : 0;
  g_slist_free_full (g_steal_pointer (&uris), (GDestroyNotify) g_uri_unref);
  url_host = (c->api_host == NULL || strcmp (c->api_host, "0.0.0.0") == 0) ? "127.0.0.1"
             : strcmp (c->api_host, "::") == 0 ? "[::1]" : c->api_host;
  if (strchr (url_host, ':') && url_host[0] != '[')
    self->url = g_strdup_printf ("%s://[%s]:%u", c->enable_tls ? "https" : "http", url_host, self->port);
  else
    self->url = g_strdup_printf ("%s://%s:%u", c->enable_tls ? "https" : "http", url_host, self->port);
  return TRUE;
}

static void
shut_down (MrRunner *self)
{
  /* held requests and waiting transitions reference messages and plugins */
  self->shutting_down = TRUE;
  mr_faults_cancel_pending (self->faults);
  mr_timing_cancel_all (self->timing);
  g_clear_pointer (&self->reply_batch, mr_reply_batch_free);
  if (self->server)
    {
      soup_server_disconnect (self->server);
      g_clear_object (&self->server);
    }
  unload_plugins (self);
}

static gpointer
server_thread (gpointer data)
{
  MrRunner *self = data;
  GError *error = NULL;
  gboolean ok;

  g_main_context_push_thread_default (self->context);
  self->shutting_down = FALSE;
  ok = load_plugins (self, &error) && listen (self, &error);

  g_mutex_lock (&self->lock);
  self->start_state = ok ? START_READY : START_FAILED;
  self->start_error = error;
  g_cond_broadcast (&self->cond);
  g_mutex_unlock (&self->lock);

  if (ok)
    g_main_loop_run (self->loop);

  shut_down (self);
  /* let sources that were cancelled by the shutdown run their cleanup */
  while (g_main_context_iteration (self->context, FALSE))
    ;
  g_main_context_pop_thread_default (self->context);
  return NULL;
}

/* The test controls' options (MOCK_RUNNER_SEED, MOCK_RUNNER_TIMING,
 * MOCK_RUNNER_JOURNAL_SIZE): the standalone server's way to set what embedders set
 * with properties. */
static gboolean
apply_test_options (MrRunner *self, GError **error)
{
  const char *seed = mr_runner_get_option (self, "MOCK_RUNNER_SEED");
  const char *timing = mr_runner_get_option (self, "MOCK_RUNNER_TIMING");
  const char *journal_size = mr_runner_get_option (self, "MOCK_RUNNER_JOURNAL_SIZE");
  guint64 n;

  if (seed)
    {
      if (!g_ascii_string_to_unsigned (seed, 10, 0, G_MAXINT64, &n, NULL))
        {
          g_set_error (error, MR_ERROR, MR_ERROR_CONFIG, "invalid value for MOCK_RUNNER_SEED: '%s' (expected a "
                       "non-negative integer)", seed);
          return FALSE;
        }
      mr_runner_set_seed (self, (gint64) n);
    }
  if (timing)
    {
      MrTimingMode mode;
      guint delay_ms;
      if (!mr_timing_parse (timing, &mode, &delay_ms, error))
        return FALSE;
      self->timing_mode = mode;
      self->timing_delay = delay_ms;
      mr_timing_set_baseline (self->timing, mode, delay_ms);
    }
  if (journal_size)
    {
      if (!g_ascii_string_to_unsigned (journal_size, 10, 1, G_MAXUINT32, &n, NULL))
        {
          g_set_error (error, MR_ERROR, MR_ERROR_CONFIG, "invalid value for MOCK_RUNNER_JOURNAL_SIZE: '%s' "
                       "(expected a positive integer)", journal_size);
          return FALSE;
        }
      mr_journal_set_max_entries (self->journal, (guint) n);
    }
  return TRUE;
}

/**
 * mr_runner_start:
 * @self: a runner
 * @error: return location for a #GError
 *
 * Loads the plugins, starts them and listens, on a new server thread. Returns once the
 * runner accepts requests, or with an error (a port in use, a plugin that cannot be
 * loaded...). It never waits without a bound.
 *
 * Returns: the bound port, or 0 on error
 */
guint16
mr_runner_start (MrRunner *self, GError **error)
{
  gint64 timeout_sec, deadline;
  StartState state;

  g_return_val_if_fail (MR_IS_RUNNER (self), 0);

  g_mutex_lock (&self->lock);
  if (self->start_state == START_READY || self->start_state == START_PENDING)
    {
      g_mutex_unlock (&self->lock);
      g_set_error (error, MR_ERROR, MR_ERROR_CONFLICT, "the runner is already started");
      return 0;
    }
  g_mutex_unlock (&self->lock);

  if (!mr_config_validate (self->config, FALSE, error) || !apply_test_options (self, error) ||
      !mr_api_control_plane_check_options (self, error))
    return 0;
  self->accept_any_token = mr_runner_get_option_bool (self, "ACCEPT_ANY_TOKEN", FALSE);

  g_clear_error (&self->start_error);
  self->context = g_main_context_new ();
  self->loop = g_main_loop_new (self->context, FALSE);
  self->started_at = g_get_real_time ();
  self->start_state = START_PENDING;
  self->thread = g_thread_try_new ("mock-runner", server_thread, self, error);
  if (self->thread == NULL)
    {
      self->start_state = START_FAILED;
      g_clear_pointer (&self->loop, g_main_loop_unref);
      g_clear_pointer (&self->context, g_main_context_unref);
      return 0;
    }

  timeout_sec = mr_runner_get_option_int (self, "START_TIMEOUT_SEC", DEFAULT_START_TIMEOUT_SEC);
  deadline = g_get_monotonic_time () + timeout_sec * G_TIME_SPAN_SECOND;
  g_mutex_lock (&self->lock);
  while (self->start_state == START_PENDING)
    if (!g_cond_wait_until (&self->cond, &self->lock, deadline))
      break;
  state = self->start_state;
  g_mutex_unlock (&self->lock);

  if (state == START_PENDING)
    {
      g_set_error (error, MR_ERROR, MR_ERROR_TIMEOUT, "the runner did not start within %" G_GINT64_FORMAT " s",
                   timeout_sec);
      /* the thread quits its loop as soon as it gets there */
      g_main_loop_quit (self->loop);
      mr_runner_stop (self);
      return 0;
    }
  if (state == START_FAILED)
    {
      g_propagate_error (error, g_steal_pointer (&self->start_error));
      g_thread_join (g_steal_pointer (&self->thread));
      g_clear_pointer (&self->loop, g_main_loop_unref);
      g_clear_pointer (&self->context, g_main_context_unref);
      self->start_state = START_IDLE;
      return 0;
    }
  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_RUNNING]);
  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_URL]);
  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_PORT]);
  return self->port;
}

static gboolean
quit_loop (gpointer data)
{
  g_main_loop_quit (data);
  return G_SOURCE_REMOVE;
}

/**
 * mr_runner_stop:
 * @self: a runner
 *
 * Stops serving, stops the plugins and joins the server thread. Safe to call when the
 * runner is not running.
 */
void
mr_runner_stop (MrRunner *self)
{
  GThread *thread;

  g_return_if_fail (MR_IS_RUNNER (self));

  if (self->thread == NULL)
    return;
  if (g_thread_self () == self->thread)
    {
      g_warning ("mr_runner_stop() cannot be called from the runner's own thread");
      return;
    }
  g_main_context_invoke (self->context, quit_loop, self->loop);
  thread = g_steal_pointer (&self->thread);
  g_thread_join (thread);
  g_clear_pointer (&self->loop, g_main_loop_unref);
  g_clear_pointer (&self->context, g_main_context_unref);
  g_clear_pointer (&self->url, g_free);
  self->port = 0;
  self->start_state = START_IDLE;
  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_RUNNING]);
}

/**
 * mr_runner_is_running:
 * @self: a runner
 *
 * Returns: whether the runner accepts requests
 */
gboolean
mr_runner_is_running (MrRunner *self)
{
  return self->start_state == START_READY;
}

static void reseed (MrRunner *self);

static void
reset_in_server (MrRunner *self, gpointer data)
{
  /* waiting transitions first: they hold plugin state that is about to go */
  mr_timing_reset (self->timing);
  for (guint i = 0; i < self->plugins->len; i++)
    mr_plugin_reset (self->plugins->pdata[i]);
  mr_journal_clear (self->journal);
  mr_faults_clear (self->faults);
  reseed (self);
  mr_api_control_plane_reset (self);
  mr_ssh_access_store_clear (self->ssh_access);
  /* what the clock aged is gone: later tests start from the real time */
  mr_clock_reset (self->clock);
}

/**
 * mr_runner_reset:
 * @self: a runner
 *
 * Returns every plugin to its configured baseline and clears the test controls: the
 * journal is emptied, fault rules removed, the timing set back to #MrRunner:timing-mode
 * (waiting transitions dropped), the clock set back to the real time
 * (mr_runner_advance_clock()) and, if #MrRunner:seed is set, the random source
 * restarted from it, so that every test after a reset sees the same ids.
 */
void
mr_runner_reset (MrRunner *self)
{
  mr_runner_run_on_server (self, reset_in_server, NULL);
}

/* Accessors ---------------------------------------------------------------------- */

/**
 * mr_runner_get_config:
 * @self: a runner
 *
 * Returns: (transfer none): the settings
 */
const MrConfig *
mr_runner_get_config (MrRunner *self)
{
  return self->config;
}

/**
 * mr_runner_configure:
 * @self: a runner that is not started
 * @name: a setting (e.g. "API_PORT", "LOG_LEVEL") or a plugin option name
 * @value: its value as text
 * @error: return location for a #GError
 *
 * Returns: %TRUE if the value is valid
 */
gboolean
mr_runner_configure (MrRunner *self, const char *name, const char *value, GError **error)
{
  if (self->start_state == START_READY || self->start_state == START_PENDING)
    {
      g_set_error (error, MR_ERROR, MR_ERROR_CONFLICT, "cannot change %s while the runner runs", name);
      return FALSE;
    }
  return mr_config_set (self->config, name, value, error);
}

/* The configuration the server thread reads while it runs (token, options) or read only
 * at start (address, plugins) is changed only while stopped: a change from another thread
 * would race with the requests being served, and one made after start would be ignored. */
static gboolean
refuse_while_running (MrRunner *self, const char *what)
{
  if (self->start_state != START_READY && self->start_state != START_PENDING)
    return FALSE;
  g_warning ("MockRunner: cannot change %s while the runner runs; stop() it first", what);
  return TRUE;
}

/**
 * mr_runner_set_option:
 * @self: a runner
 * @name: a plugin option name
 * @value: (nullable): the value, or %NULL to use the default
 */
void
mr_runner_set_option (MrRunner *self, const char *name, const char *value)
{
  g_return_if_fail (MR_IS_RUNNER (self));
  if (refuse_while_running (self, name))
    return;
  mr_config_set_option (self->config, name, value);
}

/**
 * mr_runner_get_option:
 * @self: a runner
 * @name: a plugin option name
 *
 * Returns: (transfer none) (nullable): the option's value, or the default declared by a
 *   loaded plugin, or %NULL
 */
const char *
mr_runner_get_option (MrRunner *self, const char *name)
{
  const char *value = mr_config_get_option (self->config, name);

  if (value)
    return value;
  for (guint i = 0; i < self->plugin_infos->len; i++)
    for (const MrPluginOption *o = mr_plugin_info_get_options (self->plugin_infos->pdata[i]); o && o->name; o++)
      if (g_ascii_strcasecmp (o->name, name) == 0)
        return o->default_value;
  return NULL;
}

/**
 * mr_runner_get_option_bool:
 * @self: a runner
 * @name: a plugin option name
 * @default_value: used when the option is unset or not a boolean
 *
 * Returns: the option as a boolean
 */
gboolean
mr_runner_get_option_bool (MrRunner *self, const char *name, gboolean default_value)
{
  const char *v = mr_runner_get_option (self, name);

  if (v == NULL)
    return default_value;
  if (g_ascii_strcasecmp (v, "true") == 0 || strcmp (v, "1") == 0 || g_ascii_strcasecmp (v, "yes") == 0 ||
      g_ascii_strcasecmp (v, "on") == 0)
    return TRUE;
  if (g_ascii_strcasecmp (v, "false") == 0 || strcmp (v, "0") == 0 || g_ascii_strcasecmp (v, "no") == 0 ||
      g_ascii_strcasecmp (v, "off") == 0)
    return FALSE;
  return default_value;
}

/**
 * mr_runner_get_option_int:
 * @self: a runner
 * @name: a plugin option name
 * @default_value: used when the option is unset or not a number
 *
 * Returns: the option as a number
 */
gint64
mr_runner_get_option_int (MrRunner *self, const char *name, gint64 default_value)
{
  const char *v = mr_runner_get_option (self, name);
  gint64 n;

  if (v == NULL || !g_ascii_string_to_signed (v, 10, G_MININT64, G_MAXINT64, &n, NULL))
    return default_value;
  return n;
}

/**
 * mr_runner_get_url:
 * @self: a runner
 *
 * Returns: (transfer none) (nullable): the base URL clients use, once started
 */
const char *
mr_runner_get_url (MrRunner *self)
{
  return self->url;
}

/**
 * mr_runner_get_token:
 * @self: a runner
 *
 * Returns: (transfer none): the bearer token clients must send (generated if none was set)
 */
const char *
mr_runner_get_token (MrRunner *self)
{
  return self->config->api_token ? self->config->api_token : self->generated_token;
}

/**
 * mr_runner_get_port:
 * @self: a runner
 *
 * Returns: the bound port, or 0 when not running
 */
guint16
mr_runner_get_port (MrRunner *self)
{
  return self->port;
}

/**
 * mr_runner_get_version:
 * @self: a runner
 *
 * Returns: (transfer none): the version reported by GET / and /info
 */
const char *
mr_runner_get_version (MrRunner *self)
{
  return self->config->version;
}

/**
 * mr_runner_get_main_context:
 * @self: a runner
 *
 * Returns: (transfer none) (nullable): the server thread's context, while running
 */
GMainContext *
mr_runner_get_main_context (MrRunner *self)
{
  return self->context;
}

/**
 * mr_runner_get_state_dir:
 * @self: a runner
 *
 * A private directory for this runner's files, created on first use and removed when
 * the runner is finalized.
 *
 * Returns: (transfer full) (nullable): its path
 */
char *
mr_runner_get_state_dir (MrRunner *self)
{
  g_mutex_lock (&self->lock);
  if (self->state_dir == NULL)
    self->state_dir = g_dir_make_tmp ("mock-runner-XXXXXX", NULL);
  g_mutex_unlock (&self->lock);
  return g_strdup (self->state_dir);
}

/**
 * mr_runner_get_sandbox_backend:
 * @self: a runner
 *
 * Returns: (transfer none) (nullable): the sandbox plugin, while running
 */
MrSandboxBackend *
mr_runner_get_sandbox_backend (MrRunner *self)
{
  return self->sandbox_backend;
}

/**
 * mr_runner_get_image_backend:
 * @self: a runner
 *
 * Returns: (transfer none) (nullable): the image plugin, while running
 */
MrImageBackend *
mr_runner_get_image_backend (MrRunner *self)
{
  return self->image_backend;
}

/**
 * mr_runner_get_toolbox_backend:
 * @self: a runner
 *
 * Returns: (transfer none) (nullable): the toolbox plugin, while running
 */
MrToolboxBackend *
mr_runner_get_toolbox_backend (MrRunner *self)
{
  return self->toolbox_backend;
}

/**
 * mr_runner_get_ssh_backend:
 * @self: a runner
 *
 * Returns: (transfer none) (nullable): the ssh plugin, when enabled and running
 */
MrSshBackend *
mr_runner_get_ssh_backend (MrRunner *self)
{
  return self->ssh_backend;
}

/* The server the API is served on, NULL until it listens; used on the server thread */
SoupServer *
mr_runner_get_soup_server (MrRunner *self)
{
  return self->server;
}

MrMetrics *
mr_runner_get_metrics (MrRunner *self)
{
  return self->metrics;
}

MrHostInfo *
mr_runner_get_host_info (MrRunner *self)
{
  return self->host_info;
}

gint64
mr_runner_get_start_time (MrRunner *self)
{
  return self->started_at;
}

GPtrArray *
mr_runner_get_plugins (MrRunner *self)
{
  return self->plugins;
}

MrSshAccessStore *
mr_runner_get_ssh_access (MrRunner *self)
{
  return self->ssh_access;
}

void
mr_runner_observe_operation (MrRunner *self, const char *operation, gboolean success, gint64 started_us)
{
  mr_metrics_observe_operation (self->metrics, operation, success,
                                (g_get_monotonic_time () - started_us) / 1e6);
}

/* Identifiers ---------------------------------------------------------------------- */

/**
 * mr_runner_random_int:
 * @self: a runner
 *
 * Returns: the next number of the runner's random source
 */
guint32
mr_runner_random_int (MrRunner *self)
{
  guint32 n;

  g_return_val_if_fail (MR_IS_RUNNER (self), 0);

  g_mutex_lock (&self->lock);
  n = g_rand_int (self->rand);
  g_mutex_unlock (&self->lock);
  return n;
}

/**
 * mr_runner_random_hex:
 * @self: a runner
 * @n_bytes: how many random bytes
 *
 * Returns: (transfer full): 2 × @n_bytes lowercase hex digits from the runner's random source
 */
char *
mr_runner_random_hex (MrRunner *self, guint n_bytes)
{
  GString *out = g_string_sized_new (n_bytes * 2);

  for (guint i = 0; i < n_bytes; i++)
    g_string_append_printf (out, "%02x", mr_runner_random_int (self) & 0xff);
  return g_string_free (out, FALSE);
}

/**
 * mr_runner_random_uuid:
 * @self: a runner
 *
 * Returns: (transfer full): a version-4 UUID from the runner's random source
 */
char *
mr_runner_random_uuid (MrRunner *self)
{
  guint32 w[4];

  for (guint i = 0; i < 4; i++)
    w[i] = mr_runner_random_int (self);
  return g_strdup_printf ("%08x-%04x-4%03x-%04x-%04x%08x",
                          w[0], w[1] >> 16, w[1] & 0xfff, ((w[2] >> 16) & 0x3fff) | 0x8000,
                          w[2] & 0xffff, w[3]);
}

static void
reseed (MrRunner *self)
{
  g_mutex_lock (&self->lock);
  if (self->seed >= 0)
    {
      guint32 words[2] = { (guint32) (self->seed & 0xffffffff), (guint32) ((guint64) self->seed >> 32) };
      g_rand_set_seed_array (self->rand, words, 2);
    }
  g_mutex_unlock (&self->lock);
}

/**
 * mr_runner_set_seed:
 * @self: a runner
 * @seed: a seed (0 to 2^63 - 1), or -1 for an unseeded source
 *
 * Restarts the runner's random source, behind every id the runner and its plugins
 * generate and every fault probability, from @seed: two runners given the same seed
 * and the same requests answer the same. The seed stays the baseline that
 * mr_runner_reset() restarts from. Same as setting #MrRunner:seed.
 */
void
mr_runner_set_seed (MrRunner *self, gint64 seed)
{
  g_return_if_fail (MR_IS_RUNNER (self));
  g_return_if_fail (seed >= -1);

  g_mutex_lock (&self->lock);
  self->seed = seed;
  if (seed < 0)
    {
      g_rand_free (self->rand);
      self->rand = g_rand_new ();
    }
  g_mutex_unlock (&self->lock);
  reseed (self);
  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_SEED]);
}

/**
 * mr_runner_get_seed:
 * @self: a runner
 *
 * Returns: the seed, or -1 if the random source is not seeded
 */
gint64
mr_runner_get_seed (MrRunner *self)
{
  g_return_val_if_fail (MR_IS_RUNNER (self), -1);
  return self->seed;
}

/**
 * mr_runner_random_double:
 * @self: a runner
 *
 * Returns: the next number in [0, 1) of the runner's random source
 */
double
mr_runner_random_double (MrRunner *self)
{
  double d;

  g_return_val_if_fail (MR_IS_RUNNER (self), 0.0);
  g_mutex_lock (&self->lock);
  d = g_rand_double (self->rand);
  g_mutex_unlock (&self->lock);
  return d;
}

MrJournal *
mr_runner_get_journal (MrRunner *self)
{
  return self->journal;
}

MrFaults *
mr_runner_get_fault_set (MrRunner *self)
{
  return self->faults;
}

MrTiming *
mr_runner_get_timing_state (MrRunner *self)
{
  return self->timing;
}

MrClock *
mr_runner_get_clock (MrRunner *self)
{
  return self->clock;
}

void
mr_runner_emit_request_served (MrRunner *self, const MrJournalEntry *entry)
{
  /* the runner may be in dispose (its last reference dropped): no handlers then */
  if (!self->shutting_down)
    g_signal_emit (self, signals[SIGNAL_REQUEST_SERVED], 0, entry);
}

/* Hooks for plugins ---------------------------------------------------------------- */

/**
 * mr_runner_run_transition:
 * @self: a runner
 * @sandbox_id: the sandbox
 * @target: the state the transition ends in
 * @func: (scope notified): completes the transition
 * @user_data: (closure): data for @func
 * @destroy: (destroy user_data) (nullable): frees @user_data
 *
 * A sandbox backend calls this after it has put a sandbox in an intermediate state
 * (e.g. starting). The runner's lifecycle timing decides when @func runs; with the
 * default "immediate" timing it runs before this function returns.
 */
void
mr_runner_run_transition (MrRunner *self, const char *sandbox_id, MrSandboxState target,
                          MrTransitionFunc func, gpointer user_data, GDestroyNotify destroy)
{
  mr_timing_schedule (self->timing, self, sandbox_id, target, func, user_data, destroy);
}

/**
 * mr_runner_notify_sandbox_state:
 * @self: a runner
 * @sandbox_id: the sandbox
 * @old_state: its state before
 * @new_state: its state now
 *
 * Sandbox backends call this on every state change; it emits
 * #MrRunner::sandbox-state-changed.
 */
void
mr_runner_notify_sandbox_state (MrRunner *self, const char *sandbox_id,
                                MrSandboxState old_state, MrSandboxState new_state)
{
  if (old_state != new_state)
    g_signal_emit (self, signals[SIGNAL_SANDBOX_STATE_CHANGED], 0, sandbox_id, old_state, new_state);
}

/**
 * mr_runner_notify_image:
 * @self: a runner
 * @ref: the image ref
 * @added: %TRUE if added, %FALSE if removed
 *
 * Image backends call this; it emits #MrRunner::image-added or #MrRunner::image-removed.
 */
void
mr_runner_notify_image (MrRunner *self, const char *ref, gboolean added)
{
  g_signal_emit (self, signals[added ? SIGNAL_IMAGE_ADDED : SIGNAL_IMAGE_REMOVED], 0, ref);
}

/* GObject ---------------------------------------------------------------------------- */

static void
register_routes (MrRunner *self)
{
  mr_api_register_health (self->router);
  mr_api_register_sandboxes (self->router);
  mr_api_register_snapshots (self->router);
  mr_api_register_toolbox (self->router);
  mr_api_register_mock (self->router);
  mr_api_register_ssh (self->router);
  mr_api_register_control_plane (self->router);   /* last: every runner route wins over it */
}

static void
mr_runner_init (MrRunner *self)
{
  g_mutex_init (&self->lock);
  g_cond_init (&self->cond);
  self->config = mr_config_new ();
  /* embedded default: loopback, ephemeral port */
  self->config->api_port = 0;
  self->config->api_host = g_strdup ("127.0.0.1");
  self->generated_token = g_uuid_string_random ();
  self->plugins = g_ptr_array_new_with_free_func (g_object_unref);
  self->plugin_infos = g_ptr_array_new_with_free_func ((GDestroyNotify) mr_plugin_info_unref);
  self->router = mr_router_new ();
  self->rand = g_rand_new ();
  self->seed = -1;
  self->journal = mr_journal_new (DEFAULT_JOURNAL_SIZE);
  self->faults = mr_faults_new ();
  self->timing = mr_timing_new ();
  self->clock = mr_clock_new ();
  self->metrics = mr_metrics_new ();
  self->host_info = mr_host_info_new ("/");
  self->ssh_access = mr_ssh_access_store_new ();
  register_routes (self);
}

/* The last reference was dropped on the server thread (e.g. by a Python garbage
 * collection inside a signal handler): that thread cannot join itself, so another one
 * stops the runner and drops the reference taken here. */
static gpointer
reap_runner (gpointer data)
{
  MrRunner *self = data;

  mr_runner_stop (self);
  g_object_unref (self);
  return NULL;
}

static void
mr_runner_dispose (GObject *object)
{
  MrRunner *self = MR_RUNNER (object);

  if (self->thread && g_thread_self () == self->thread)
    {
      g_thread_unref (g_thread_new ("mock-runner-reap", reap_runner, g_object_ref (self)));
      return;
    }
  if (self->thread)
    mr_runner_stop (self);
  G_OBJECT_CLASS (mr_runner_parent_class)->dispose (object);
}

static void
remove_tree (const char *path)
{
  g_autoptr(GDir) dir = g_dir_open (path, 0, NULL);
  const char *name;

  if (dir)
    while ((name = g_dir_read_name (dir)))
      {
        g_autofree char *child = g_build_filename (path, name, NULL);
        if (g_file_test (child, G_FILE_TEST_IS_DIR) && !g_file_test (child, G_FILE_TEST_IS_SYMLINK))
          remove_tree (child);
        else
          g_unlink (child);
      }
  g_rmdir (path);
}

static void
mr_runner_finalize (GObject *object)
{
  MrRunner *self = MR_RUNNER (object);

  if (self->thread)
    {
      /* the last reference was dropped on the server thread: let it finish alone */
      g_main_loop_quit (self->loop);
      g_thread_unref (self->thread);
    }
  mr_config_free (self->config);
  g_free (self->generated_token);
  g_clear_error (&self->start_error);
  g_free (self->url);
  mr_router_free (self->router);
  g_ptr_array_unref (self->plugins);
  g_ptr_array_unref (self->plugin_infos);
  g_rand_free (self->rand);
  mr_timing_free (self->timing);
  mr_clock_free (self->clock);
  mr_faults_free (self->faults);
  mr_journal_free (self->journal);
  mr_metrics_free (self->metrics);
  mr_host_info_free (self->host_info);
  mr_ssh_access_store_free (self->ssh_access);
  if (self->state_dir)
    remove_tree (self->state_dir);
  g_free (self->state_dir);
  g_mutex_clear (&self->lock);
  g_cond_clear (&self->cond);
  G_OBJECT_CLASS (mr_runner_parent_class)->finalize (object);
}

static char **
backend_field (MrRunner *self, guint prop_id)
{
  switch (prop_id)
    {
    case PROP_SANDBOX_BACKEND: return &self->config->sandbox_backend;
    case PROP_IMAGE_BACKEND: return &self->config->image_backend;
    case PROP_TOOLBOX_BACKEND: return &self->config->toolbox_backend;
    case PROP_SSH_BACKEND: return &self->config->ssh_backend;
    default: return NULL;
    }
}

static char **
options_to_strv (MrRunner *self)
{
  g_autoptr(GStrvBuilder) builder = g_strv_builder_new ();
  g_autoptr(GList) names = g_list_sort (g_hash_table_get_keys (self->config->options), (GCompareFunc) strcmp);

  for (GList *l = names; l; l = l->next)
    {
      g_autofree char *entry = g_strdup_printf ("%s=%s", (char *) l->data,
                                                (char *) g_hash_table_lookup (self->config->options, l->data));
      g_strv_builder_add (builder, entry);
    }
  return g_strv_builder_end (builder);
}

typedef struct {
  MrRunner *runner;
  MrTimingMode mode;
  guint delay_ms;
} BaselineTiming;

static gboolean
set_baseline_timing_in_server (gpointer data)
{
  BaselineTiming *t = data;

  mr_timing_set_baseline (t->runner->timing, t->mode, t->delay_ms);
  return G_SOURCE_REMOVE;
}

/* Posted, not waited for: a property setter runs with Python's GIL held, and the server
 * thread may need it (a Python signal handler) before it gets to this. */
static void
set_baseline_timing (MrRunner *self, MrTimingMode mode, guint delay_ms)
{
  BaselineTiming *t = g_new0 (BaselineTiming, 1);

  t->runner = self;
  t->mode = mode;
  t->delay_ms = delay_ms;
  if (self->context && self->start_state == START_READY && !g_main_context_is_owner (self->context))
    g_main_context_invoke_full (self->context, G_PRIORITY_DEFAULT, set_baseline_timing_in_server, t, g_free);
  else
    {
      set_baseline_timing_in_server (t);
      g_free (t);
    }
}

static void
mr_runner_get_property (GObject *object, guint prop_id, GValue *value, GParamSpec *pspec)
{
  MrRunner *self = MR_RUNNER (object);

  switch (prop_id)
    {
    case PROP_TOKEN: g_value_set_string (value, mr_runner_get_token (self)); break;
    case PROP_PORT: g_value_set_uint (value, self->port ? self->port : self->config->api_port); break;
    case PROP_HOST: g_value_set_string (value, self->config->api_host); break;
    case PROP_URL: g_value_set_string (value, self->url); break;
    case PROP_RUNNING: g_value_set_boolean (value, mr_runner_is_running (self)); break;
    case PROP_SANDBOX_BACKEND:
    case PROP_IMAGE_BACKEND:
    case PROP_TOOLBOX_BACKEND:
    case PROP_SSH_BACKEND: g_value_set_string (value, *backend_field (self, prop_id)); break;
    case PROP_OPTIONS: g_value_take_boxed (value, options_to_strv (self)); break;
    case PROP_SEED: g_value_set_int64 (value, self->seed); break;
    case PROP_TIMING_MODE: g_value_set_enum (value, self->timing_mode); break;
    case PROP_TIMING_DELAY: g_value_set_uint (value, self->timing_delay); break;
    case PROP_JOURNAL_SIZE: g_value_set_uint (value, mr_journal_get_max_entries (self->journal)); break;
    default: G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
    }
}

static void
mr_runner_set_property (GObject *object, guint prop_id, const GValue *value, GParamSpec *pspec)
{
  MrRunner *self = MR_RUNNER (object);

  switch (prop_id)
    {
    case PROP_TOKEN:
    case PROP_PORT:
    case PROP_HOST:
    case PROP_SANDBOX_BACKEND:
    case PROP_IMAGE_BACKEND:
    case PROP_TOOLBOX_BACKEND:
    case PROP_SSH_BACKEND:
    case PROP_OPTIONS:
      if (refuse_while_running (self, pspec->name))
        return;
      break;
    default:
      break;
    }

  switch (prop_id)
    {
    case PROP_TOKEN:
      g_free (self->config->api_token);
      self->config->api_token = g_value_dup_string (value);
      break;
    case PROP_PORT:
      self->config->api_port = g_value_get_uint (value);
      break;
    case PROP_HOST:
      g_free (self->config->api_host);
      self->config->api_host = g_value_dup_string (value);
      break;
    case PROP_SANDBOX_BACKEND:
    case PROP_IMAGE_BACKEND:
    case PROP_TOOLBOX_BACKEND:
    case PROP_SSH_BACKEND:
      if (g_value_get_string (value))
        {
          g_free (*backend_field (self, prop_id));
          *backend_field (self, prop_id) = g_value_dup_string (value);
        }
      break;
    case PROP_OPTIONS:
      for (char **o = g_value_get_boxed (value); o && *o; o++)
        {
          const char *eq = strchr (*o, '=');
          g_autofree char *name = eq ? g_strndup (*o, eq - *o) : g_strdup (*o);
          mr_config_set_option (self->config, name, eq ? eq + 1 : NULL);
        }
      break;
    case PROP_SEED:
      mr_runner_set_seed (self, g_value_get_int64 (value));
      break;
    case PROP_TIMING_MODE:
    case PROP_TIMING_DELAY:
      {
        if (prop_id == PROP_TIMING_MODE)
          self->timing_mode = g_value_get_enum (value);
        else
          self->timing_delay = g_value_get_uint (value);
        set_baseline_timing (self, self->timing_mode, self->timing_delay);
      }
      break;
    case PROP_JOURNAL_SIZE:
      mr_journal_set_max_entries (self->journal, g_value_get_uint (value));
      break;
    default: G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
    }
}

static void
mr_runner_class_init (MrRunnerClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);

  object_class->dispose = mr_runner_dispose;
  object_class->finalize = mr_runner_finalize;
  object_class->get_property = mr_runner_get_property;
  object_class->set_property = mr_runner_set_property;

  properties[PROP_TOKEN] = g_param_spec_string ("token", NULL, "Bearer token clients must send", NULL,
                                                G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS);
  properties[PROP_PORT] = g_param_spec_uint ("port", NULL, "Port to listen on (0: ephemeral); the bound port once started",
                                             0, 65535, 0, G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS | G_PARAM_EXPLICIT_NOTIFY);
  properties[PROP_HOST] = g_param_spec_string ("host", NULL, "Address to listen on (NULL: all interfaces)", "127.0.0.1",
                                               G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS);
  properties[PROP_URL] = g_param_spec_string ("url", NULL, "Base URL once started", NULL,
                                              G_PARAM_READABLE | G_PARAM_STATIC_STRINGS);
  properties[PROP_RUNNING] = g_param_spec_boolean ("running", NULL, "Whether the runner serves", FALSE,
                                                   G_PARAM_READABLE | G_PARAM_STATIC_STRINGS);
  properties[PROP_SANDBOX_BACKEND] = g_param_spec_string ("sandbox-backend", NULL, "Sandbox plugin name", "sandbox-memory",
                                                          G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS);
  properties[PROP_IMAGE_BACKEND] = g_param_spec_string ("image-backend", NULL, "Image plugin name", "image-memory",
                                                        G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS);
  properties[PROP_TOOLBOX_BACKEND] = g_param_spec_string ("toolbox-backend", NULL, "Toolbox plugin name", "toolbox-local",
                                                          G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS);
  properties[PROP_SSH_BACKEND] = g_param_spec_string ("ssh-backend", NULL, "SSH plugin name", "ssh-libssh",
                                                      G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS);
  properties[PROP_OPTIONS] = g_param_spec_boxed ("options", NULL, "Plugin options, as KEY=VALUE (KEY alone unsets it)",
                                                G_TYPE_STRV, G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS);
  properties[PROP_SEED] = g_param_spec_int64 ("seed", NULL,
                                              "Seed of the random source behind every generated id (-1: not seeded)",
                                              -1, G_MAXINT64, -1,
                                              G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS | G_PARAM_EXPLICIT_NOTIFY);
  properties[PROP_TIMING_MODE] = g_param_spec_enum ("timing-mode", NULL,
                                                    "When lifecycle transitions complete (the baseline reset returns to)",
                                                    MR_TYPE_TIMING_MODE, MR_TIMING_MODE_IMMEDIATE,
                                                    G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS);
  properties[PROP_TIMING_DELAY] = g_param_spec_uint ("timing-delay", NULL,
                                                     "Milliseconds each transition takes in delay mode",
                                                     0, 10 * 60 * 1000, 0, G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS);
  properties[PROP_JOURNAL_SIZE] = g_param_spec_uint ("journal-size", NULL,
                                                     "Most requests the journal keeps (the oldest go first)",
                                                     1, G_MAXUINT32, DEFAULT_JOURNAL_SIZE,
                                                     G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS);
  g_object_class_install_properties (object_class, N_PROPS, properties);

  /**
   * MrRunner::sandbox-state-changed:
   * @runner: the runner
   * @sandbox_id: the sandbox
   * @old_state: its previous state
   * @new_state: its new state
   *
   * A sandbox changed state. Emitted on the server thread.
   */
  signals[SIGNAL_SANDBOX_STATE_CHANGED] =
    g_signal_new ("sandbox-state-changed", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST, 0, NULL, NULL, NULL,
                  G_TYPE_NONE, 3, G_TYPE_STRING, MR_TYPE_SANDBOX_STATE, MR_TYPE_SANDBOX_STATE);
  /**
   * MrRunner::image-added:
   * @runner: the runner
   * @ref: the image ref
   *
   * An image was added. Emitted on the server thread.
   */
  signals[SIGNAL_IMAGE_ADDED] =
    g_signal_new ("image-added", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST, 0, NULL, NULL, NULL,
                  G_TYPE_NONE, 1, G_TYPE_STRING);
  /**
   * MrRunner::image-removed:
   * @runner: the runner
   * @ref: the image ref
   *
   * An image was removed. Emitted on the server thread.
   */
  signals[SIGNAL_IMAGE_REMOVED] =
    g_signal_new ("image-removed", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST, 0, NULL, NULL, NULL,
                  G_TYPE_NONE, 1, G_TYPE_STRING);
  /**
   * MrRunner::request-served:
   * @runner: the runner
   * @entry: the journal entry of the request, status included
   *
   * The runner decided the reply to a request (or the request ended without one):
   * emitted on the server thread once the entry is in the journal and before the
   * reply's body is sent (before any of the reply, for every runner API route). A
   * handler that blocks delays the reply. /_mock/ requests are not reported.
   */
  signals[SIGNAL_REQUEST_SERVED] =
    g_signal_new ("request-served", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST, 0, NULL, NULL, NULL,
                  G_TYPE_NONE, 1, MR_TYPE_JOURNAL_ENTRY);
}

/**
 * mr_runner_new:
 *
 * Creates a runner for embedding: it listens on 127.0.0.1, on an ephemeral port, with a
 * generated token, and reads nothing from the environment.
 *
 * Returns: (transfer full): a new runner
 */
MrRunner *
mr_runner_new (void)
{
  return g_object_new (MR_TYPE_RUNNER, NULL);
}

/**
 * mr_runner_new_with_config:
 * @config: the settings to use (copied)
 *
 * Returns: (transfer full): a new runner
 */
MrRunner *
mr_runner_new_with_config (const MrConfig *config)
{
  MrRunner *self = g_object_new (MR_TYPE_RUNNER, NULL);

  mr_config_free (self->config);
  self->config = mr_config_copy (config);
  return self;
}
