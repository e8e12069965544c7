/* mr-sandbox-backend.h: the interface of sandbox plugins (lifecycle and state). */
#pragma once

#include "mr-plugin.h"
#include "mr-sandbox.h"

G_BEGIN_DECLS

#define MR_TYPE_SANDBOX_BACKEND (mr_sandbox_backend_get_type ())
G_DECLARE_INTERFACE (MrSandboxBackend, mr_sandbox_backend, MR, SANDBOX_BACKEND, MrPlugin)

/**
 * MrSandboxBackendInterface:
 * @g_iface: the parent interface
 * @create: create (or, as the runners do, idempotently re-use) the sandbox @spec describes
 * @get: the sandbox's current record; for an id the backend does not hold, a record
 *   with exists = %FALSE and the state the runner reports for it
 * @start: start a sandbox; @metadata may be %NULL
 * @stop: stop a sandbox
 * @destroy: destroy a sandbox (idempotent)
 * @remove: the DELETE route: destroy unless already destroyed
 * @backup: start a backup to @snapshot
 * @resize: change quotas; a negative value leaves that quota unchanged
 * @update_network: record network settings (a JSON object of the request fields)
 * @recover: recover a sandbox in error, with the fields of @spec
 * @list: every sandbox the backend holds
 *
 * Errors are in the #MR_ERROR domain; the HTTP layer maps their codes to statuses.
 */
struct _MrSandboxBackendInterface {
  GTypeInterface g_iface;

  gboolean   (*create)         (MrSandboxBackend *self, const MrSandbox *spec, GError **error);
  MrSandbox *(*get)            (MrSandboxBackend *self, const char *id);
  gboolean   (*start)          (MrSandboxBackend *self, const char *id, GHashTable *metadata, GError **error);
  gboolean   (*stop)           (MrSandboxBackend *self, const char *id, gboolean force, GError **error);
  gboolean   (*destroy)        (MrSandboxBackend *self, const char *id, GError **error);
  gboolean   (*remove)         (MrSandboxBackend *self, const char *id, GError **error);
  gboolean   (*backup)         (MrSandboxBackend *self, const char *id, const char *snapshot, GError **error);
  gboolean   (*resize)         (MrSandboxBackend *self, const char *id, gint64 cpu, gint64 gpu,
                                gint64 memory, gint64 disk, GError **error);
  gboolean   (*update_network) (MrSandboxBackend *self, const char *id, JsonObject *settings, GError **error);
  gboolean   (*recover)        (MrSandboxBackend *self, const char *id, const MrSandbox *spec, GError **error);
  GPtrArray *(*list)           (MrSandboxBackend *self);
};

gboolean   mr_sandbox_backend_create (MrSandboxBackend *self, const MrSandbox *spec, GError **error);
MrSandbox *mr_sandbox_backend_get (MrSandboxBackend *self, const char *id);
gboolean   mr_sandbox_backend_start (MrSandboxBackend *self, const char *id, GHashTable *metadata, GError **error);
gboolean   mr_sandbox_backend_stop (MrSandboxBackend *self, const char *id, gboolean force, GError **error);
gboolean   mr_sandbox_backend_destroy (MrSandboxBackend *self, const char *id, GError **error);
gboolean   mr_sandbox_backend_remove (MrSandboxBackend *self, const char *id, GError **error);
gboolean   mr_sandbox_backend_backup (MrSandboxBackend *self, const char *id, const char *snapshot, GError **error);
gboolean   mr_sandbox_backend_resize (MrSandboxBackend *self, const char *id, gint64 cpu, gint64 gpu,
                                      gint64 memory, gint64 disk, GError **error);
gboolean   mr_sandbox_backend_update_network (MrSandboxBackend *self, const char *id, JsonObject *settings, GError **error);
gboolean   mr_sandbox_backend_recover (MrSandboxBackend *self, const char *id, const MrSandbox *spec, GError **error);
GPtrArray *mr_sandbox_backend_list (MrSandboxBackend *self);

G_END_DECLS
