/* mr-toolbox-private.h: what the toolbox's area files (files, process, sessions, pty,
 * interpreter, git, ports, proxy, tier 3) share. Not installed.
 *
 * Each area registers its routes in mr_tb_register_<area>() and keeps its state in a
 * struct hung off MrToolbox (mr_tb_area_get/set), created on first use and freed by the
 * destroy function given, which must also end the area's processes. */
#pragma once

#include <json-glib/json-glib.h>

#include "mr-toolbox.h"
#include "mr-router.h"

G_BEGIN_DECLS

/* Route flags */
enum {
  MR_TB_STREAM_BODY = 1 << 0,   /* handler runs when headers arrive and reads the body itself */
};

typedef struct {
  MrToolbox *toolbox;
  MrToolboxRequest *request;
  SoupServerMessage *msg;
  const MrRoute *route;
  char *path;                   /* decoded toolbox path, e.g. "/files/info" */
  MrRouteParams *params;        /* decoded path parameters */
  GHashTable *query;            /* decoded query parameters (never NULL) */
  GBytes *body;                 /* whole body, for non-stream routes, in the body phase */
} MrTbCall;

typedef void (*MrTbHandler) (MrTbCall *call);

const char *mr_tb_param (MrTbCall *call, const char *name);
const char *mr_tb_query (MrTbCall *call, const char *name);

/* Replies. Shape A is the error middleware's body, code = Go's http.StatusText. */
const char *mr_tb_status_text (guint status);
void  mr_tb_reply_error (MrTbCall *call, guint status, const char *message);          /* Shape A */
void  mr_tb_reply_error_printf (MrTbCall *call, guint status, const char *format, ...) G_GNUC_PRINTF (3, 4);
void  mr_tb_reply_error_b (MrTbCall *call, guint status, const char *message);        /* {"error": ...} */
void  mr_tb_reply_json (MrTbCall *call, guint status, JsonNode *node);
void  mr_tb_reply_empty (MrTbCall *call, guint status);
void  mr_tb_reply_not_found_route (MrTbCall *call);                                   /* gin's text/plain 404 */
JsonObject *mr_tb_parse_body_object (MrTbCall *call, GError **error);

/* Formats shared by files, git and pty: Go's FileMode.String(), Time.String(), RFC 3339 */
char *mr_tb_format_mode (guint32 st_mode);
char *mr_tb_format_go_time (gint64 seconds, gint64 nanoseconds);
char *mr_tb_format_rfc3339 (gint64 seconds, gint64 nanoseconds);
char *mr_tb_resolve_path (MrToolbox *toolbox, const char *path);   /* relative to the work dir */

/* WebSocket upgrade inside a normal handler (both ways of serving). Returns FALSE (after
 * answering 400) if the request is not a valid handshake. @protocols may be NULL. */
typedef void (*MrTbWebsocketFunc) (MrTbCall *call, SoupWebsocketConnection *connection, gpointer user_data);
gboolean mr_tb_accept_websocket (MrTbCall *call, const char * const *protocols,
                                 MrTbWebsocketFunc func, gpointer user_data, GDestroyNotify destroy);
gboolean mr_tb_is_websocket_request (MrTbCall *call);

/* Processes: the shell of sessions and PTYs (GetShell: zsh before bash before $SHELL,
 * else sh), and the environment of every child (the daemon's, with HOME set to the
 * toolbox home directory, plus @extra). */
char  *mr_tb_get_shell (void);
char **mr_tb_child_environ (MrToolbox *toolbox, GHashTable *extra);
char **mr_tb_base_environ (MrToolbox *toolbox);     /* without @extra: as POST /env left it */

/* Identifiers (command ids, context ids, boundaries...) from the toolbox's random source:
 * the runner's seeded one under toolbox-local, so seeded runs answer the same. */
char *mr_tb_new_uuid (MrToolbox *toolbox);
char *mr_tb_random_hex (MrToolbox *toolbox, guint n_bytes);

/* Per-area state */
gpointer mr_tb_area_get (MrToolbox *toolbox, const char *area);
void     mr_tb_area_set (MrToolbox *toolbox, const char *area, gpointer state, GDestroyNotify destroy);
void     mr_tb_area_reset (MrToolbox *toolbox);

/* The SDK version the client reports (X-Daytona-SDK-Version header or WS subprotocol) */
const char *mr_tb_sdk_version (MrTbCall *call);

/* Route tables, one per area file */
void mr_tb_register_info (MrRouter *router);
void mr_tb_register_env (MrRouter *router);
void mr_tb_register_system (MrRouter *router);
void mr_tb_register_files (MrRouter *router);
void mr_tb_register_process (MrRouter *router);
void mr_tb_register_sessions (MrRouter *router);
void mr_tb_register_pty (MrRouter *router);
void mr_tb_register_interpreter (MrRouter *router);
void mr_tb_register_git (MrRouter *router);
void mr_tb_register_ports (MrRouter *router);
void mr_tb_register_proxy (MrRouter *router);
void mr_tb_register_tier3 (MrRouter *router);

G_END_DECLS
