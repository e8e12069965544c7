/* mr-api-control-plane.h: what the files of the control-plane facade share. Not installed.
 *
 * The facade answers the few Daytona API routes the official SDKs call (under
 * CONTROL_PLANE_PREFIX, default /api) so that an SDK can talk to the runner with no
 * Daytona platform in front of it (official-clients.md section 4). The sandbox plugin
 * holds every sandbox; the facade keeps only what a runner never knows in the real
 * system, because the API's database holds it: labels, the auto-stop family of
 * fields, and the last DTO of a sandbox that is gone. */
#pragma once

#include "mr-runner-private.h"

G_BEGIN_DECLS

#define MR_CP_DEFAULT_PREFIX   "/api"
#define MR_CP_DEFAULT_SNAPSHOT "daytonaio/sandbox:latest"
#define MR_CP_DEFAULT_ORG      "mock-organization"

/* What the facade knows of one sandbox beyond the plugin's record. */
typedef struct {
  JsonObject *meta;        /* labels, public, target, autoStopInterval, ... (never NULL) */
  JsonObject *last_dto;    /* the last DTO served while the sandbox existed, or NULL */
} MrCpEntry;

/* mr-api-control-plane-state.c */
MrCpEntry  *mr_cp_entry_lookup (MrRunner *runner, const char *id);
MrCpEntry  *mr_cp_entry_ensure (MrRunner *runner, const char *id);
GList      *mr_cp_entry_ids (MrRunner *runner);

/* mr-api-control-plane-dto.c */
JsonObject *mr_cp_parse_object (GBytes *body, gboolean allow_empty, char **message);
MrSandbox  *mr_cp_spec_from_create (MrExchange *ex, JsonObject *body, JsonObject *meta, char **message);
gboolean    mr_cp_check_labels (JsonObject *body, char **message);
JsonObject *mr_cp_sandbox_dto (MrExchange *ex, const MrSandbox *sandbox);
JsonObject *mr_cp_destroyed_dto (MrExchange *ex, const char *id);
char       *mr_cp_toolbox_proxy_url (MrExchange *ex);
char       *mr_cp_format_time (gint64 unix_us);
gboolean    mr_cp_labels_match (JsonObject *dto, JsonObject *wanted);

/* mr-api-control-plane-socketio.c */
void        mr_cp_handle_socketio (MrExchange *ex);

/* mr-api-control-plane.c */
void        mr_cp_reply_error (MrExchange *ex, guint status, const char *message);

G_END_DECLS
