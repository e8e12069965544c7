/* mr-sandbox.h: the sandbox record, its lifecycle state and its backup state. */
#pragma once

#include <glib-object.h>
#include <json-glib/json-glib.h>

G_BEGIN_DECLS

/**
 * MrSandboxState:
 * @MR_SANDBOX_STATE_UNKNOWN: the state cannot be worked out (e.g. its cache entry expired)
 * @MR_SANDBOX_STATE_CREATING: being created
 * @MR_SANDBOX_STATE_RESTORING: being restored (never produced by a runner)
 * @MR_SANDBOX_STATE_DESTROYED: destroyed, or never existed
 * @MR_SANDBOX_STATE_DESTROYING: being destroyed
 * @MR_SANDBOX_STATE_STARTED: running
 * @MR_SANDBOX_STATE_STOPPED: stopped
 * @MR_SANDBOX_STATE_STARTING: being started
 * @MR_SANDBOX_STATE_STOPPING: being stopped
 * @MR_SANDBOX_STATE_RESIZING: being resized
 * @MR_SANDBOX_STATE_ERROR: an operation failed
 * @MR_SANDBOX_STATE_PULLING_SNAPSHOT: its snapshot is being pulled
 *
 * The runner's sandbox states (runner-api.md section 5.1); on the wire they are the
 * lowercase names given by mr_sandbox_state_to_string().
 */
typedef enum {
  MR_SANDBOX_STATE_UNKNOWN,
  MR_SANDBOX_STATE_CREATING,
  MR_SANDBOX_STATE_RESTORING,
  MR_SANDBOX_STATE_DESTROYED,
  MR_SANDBOX_STATE_DESTROYING,
  MR_SANDBOX_STATE_STARTED,
  MR_SANDBOX_STATE_STOPPED,
  MR_SANDBOX_STATE_STARTING,
  MR_SANDBOX_STATE_STOPPING,
  MR_SANDBOX_STATE_RESIZING,
  MR_SANDBOX_STATE_ERROR,
  MR_SANDBOX_STATE_PULLING_SNAPSHOT,
} MrSandboxState;

/**
 * MrBackupState:
 * @MR_BACKUP_STATE_NONE: no backup has run (or it was cancelled)
 * @MR_BACKUP_STATE_PENDING: a backup is queued
 * @MR_BACKUP_STATE_IN_PROGRESS: a backup is running
 * @MR_BACKUP_STATE_COMPLETED: the last backup completed
 * @MR_BACKUP_STATE_FAILED: the last backup failed
 *
 * Backup states; on the wire they are uppercase (runner-api.md section 5.2).
 */
typedef enum {
  MR_BACKUP_STATE_NONE,
  MR_BACKUP_STATE_PENDING,
  MR_BACKUP_STATE_IN_PROGRESS,
  MR_BACKUP_STATE_COMPLETED,
  MR_BACKUP_STATE_FAILED,
} MrBackupState;

const char *mr_sandbox_state_to_string (MrSandboxState state);
gboolean    mr_sandbox_state_from_string (const char *string, MrSandboxState *state);
const char *mr_backup_state_to_string (MrBackupState state);
gboolean    mr_backup_state_from_string (const char *string, MrBackupState *state);

#define MR_TYPE_SANDBOX (mr_sandbox_get_type ())

typedef struct _MrSandbox MrSandbox;

/**
 * MrSandbox:
 * @id: the sandbox id
 * @exists: %FALSE for a record that stands for an id the backend does not hold
 * @state: lifecycle state
 * @backup_state: state of the last backup
 * @backup_error: (nullable): error of the last failed backup
 * @backup_snapshot: (nullable): image ref of the last backup
 * @user_id: (nullable): owner (the API sends the organization id)
 * @snapshot: (nullable): image ref the sandbox runs
 * @os_user: (nullable): OS user inside the sandbox
 * @name: (nullable): display name (June-2026 field)
 * @cpu: vCPUs
 * @gpu: GPUs
 * @memory: memory in GiB
 * @disk: disk in GiB
 * @env: (element-type utf8 utf8): environment variables
 * @metadata: (element-type utf8 utf8): metadata sent by the control plane
 * @network_block_all: whether all egress is blocked
 * @network_allow_list: (nullable): comma-separated CIDR allow list
 * @network_limit_egress: whether egress is rate limited
 * @domain_allow_list: (nullable): domain allow list (June-2026 field)
 * @extra: (nullable): request fields the runner does not interpret, kept for export
 * @created_at: creation time, microseconds since the epoch
 * @updated_at: time of the last change, microseconds since the epoch
 *
 * A sandbox as a backend holds it. Records handed out by backends are copies.
 */
struct _MrSandbox {
  char *id;
  gboolean exists;
  MrSandboxState state;
  MrBackupState backup_state;
  char *backup_error;
  char *backup_snapshot;
  char *user_id;
  char *snapshot;
  char *os_user;
  char *name;
  gint64 cpu;
  gint64 gpu;
  gint64 memory;
  gint64 disk;
  GHashTable *env;
  GHashTable *metadata;
  gboolean network_block_all;
  char *network_allow_list;
  gboolean network_limit_egress;
  char *domain_allow_list;
  JsonObject *extra;
  gint64 created_at;
  gint64 updated_at;
};

GType      mr_sandbox_get_type (void) G_GNUC_CONST;
MrSandbox *mr_sandbox_new      (const char *id);
MrSandbox *mr_sandbox_copy     (const MrSandbox *sandbox);
void       mr_sandbox_free     (MrSandbox *sandbox);
JsonNode  *mr_sandbox_to_json  (const MrSandbox *sandbox);
MrSandbox *mr_sandbox_from_json (JsonNode *node, GError **error);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (MrSandbox, mr_sandbox_free)

G_END_DECLS
