/* mr-sandbox-backend.c: dispatch wrappers of the sandbox plugin interface. */
#include "mr-sandbox-backend.h"
#include "mr-error.h"

G_DEFINE_INTERFACE (MrSandboxBackend, mr_sandbox_backend, MR_TYPE_PLUGIN)

static void
mr_sandbox_backend_default_init (MrSandboxBackendInterface *iface)
{
}

#define IFACE(self) MR_SANDBOX_BACKEND_GET_IFACE (self)

static gboolean
unsupported (MrSandboxBackend *self, const char *what, GError **error)
{
  g_set_error (error, MR_ERROR, MR_ERROR_INVALID_ARGUMENT, "%s is not supported by %s",
               what, G_OBJECT_TYPE_NAME (self));
  return FALSE;
}

/**
 * mr_sandbox_backend_create:
 * @self: a sandbox backend
 * @spec: the sandbox to create
 * @error: return location for a #GError
 *
 * Returns: %TRUE on success
 */
gboolean
mr_sandbox_backend_create (MrSandboxBackend *self, const MrSandbox *spec, GError **error)
{
  return IFACE (self)->create (self, spec, error);
}

/**
 * mr_sandbox_backend_get:
 * @self: a sandbox backend
 * @id: a sandbox id
 *
 * Returns: (transfer full): the record (exists = %FALSE for an id the backend does not hold)
 */
MrSandbox *
mr_sandbox_backend_get (MrSandboxBackend *self, const char *id)
{
  return IFACE (self)->get (self, id);
}

/**
 * mr_sandbox_backend_start:
 * @self: a sandbox backend
 * @id: a sandbox id
 * @metadata: (nullable) (element-type utf8 utf8): metadata from the request body
 * @error: return location for a #GError
 *
 * Returns: %TRUE on success
 */
gboolean
mr_sandbox_backend_start (MrSandboxBackend *self, const char *id, GHashTable *metadata, GError **error)
{
  return IFACE (self)->start (self, id, metadata, error);
}

/**
 * mr_sandbox_backend_stop:
 * @self: a sandbox backend
 * @id: a sandbox id
 * @force: kill rather than stop
 * @error: return location for a #GError
 *
 * Returns: %TRUE on success
 */
gboolean
mr_sandbox_backend_stop (MrSandboxBackend *self, const char *id, gboolean force, GError **error)
{
  return IFACE (self)->stop (self, id, force, error);
}

/**
 * mr_sandbox_backend_destroy:
 * @self: a sandbox backend
 * @id: a sandbox id
 * @error: return location for a #GError
 *
 * Returns: %TRUE on success
 */
gboolean
mr_sandbox_backend_destroy (MrSandboxBackend *self, const char *id, GError **error)
{
  return IFACE (self)->destroy (self, id, error);
}

/**
 * mr_sandbox_backend_remove:
 * @self: a sandbox backend
 * @id: a sandbox id
 * @error: return location for a #GError
 *
 * Returns: %TRUE on success
 */
gboolean
mr_sandbox_backend_remove (MrSandboxBackend *self, const char *id, GError **error)
{
  if (IFACE (self)->remove == NULL)
    return mr_sandbox_backend_destroy (self, id, error);
  return IFACE (self)->remove (self, id, error);
}

/**
 * mr_sandbox_backend_backup:
 * @self: a sandbox backend
 * @id: a sandbox id
 * @snapshot: the backup image ref
 * @error: return location for a #GError
 *
 * Returns: %TRUE if the backup started
 */
gboolean
mr_sandbox_backend_backup (MrSandboxBackend *self, const char *id, const char *snapshot, GError **error)
{
  if (IFACE (self)->backup == NULL)
    return unsupported (self, "backup", error);
  return IFACE (self)->backup (self, id, snapshot, error);
}

/**
 * mr_sandbox_backend_resize:
 * @self: a sandbox backend
 * @id: a sandbox id
 * @cpu: new vCPUs, or -1
 * @gpu: new GPUs, or -1
 * @memory: new memory in GiB, or -1
 * @disk: new disk in GiB, or -1
 * @error: return location for a #GError
 *
 * Returns: %TRUE on success
 */
gboolean
mr_sandbox_backend_resize (MrSandboxBackend *self, const char *id, gint64 cpu, gint64 gpu,
                           gint64 memory, gint64 disk, GError **error)
{
  if (IFACE (self)->resize == NULL)
    return unsupported (self, "resize", error);
  return IFACE (self)->resize (self, id, cpu, gpu, memory, disk, error);
}

/**
 * mr_sandbox_backend_update_network:
 * @self: a sandbox backend
 * @id: a sandbox id
 * @settings: the request fields
 * @error: return location for a #GError
 *
 * Returns: %TRUE on success
 */
gboolean
mr_sandbox_backend_update_network (MrSandboxBackend *self, const char *id, JsonObject *settings, GError **error)
{
  if (IFACE (self)->update_network == NULL)
    return TRUE;
  return IFACE (self)->update_network (self, id, settings, error);
}

/**
 * mr_sandbox_backend_recover:
 * @self: a sandbox backend
 * @id: a sandbox id
 * @spec: the fields of the recover request
 * @error: return location for a #GError
 *
 * Returns: %TRUE on success
 */
gboolean
mr_sandbox_backend_recover (MrSandboxBackend *self, const char *id, const MrSandbox *spec, GError **error)
{
  if (IFACE (self)->recover == NULL)
    return unsupported (self, "recover", error);
  return IFACE (self)->recover (self, id, spec, error);
}

/**
 * mr_sandbox_backend_list:
 * @self: a sandbox backend
 *
 * Returns: (transfer full) (element-type MrSandbox): every sandbox held
 */
GPtrArray *
mr_sandbox_backend_list (MrSandboxBackend *self)
{
  return IFACE (self)->list (self);
}
