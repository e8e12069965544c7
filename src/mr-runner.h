/* mr-runner.h: MrRunner, a mock Daytona runner that can be embedded (Python, C tests)
 * or run standalone. It serves on its own thread and GMainContext. */
#pragma once

#include <gio/gio.h>

#include "mr-types.h"
#include "mr-config.h"
#include "mr-sandbox.h"
#include "mr-sandbox-backend.h"
#include "mr-image-backend.h"
#include "mr-toolbox-backend.h"
#include "mr-ssh-backend.h"

G_BEGIN_DECLS

#define MR_TYPE_RUNNER (mr_runner_get_type ())
G_DECLARE_FINAL_TYPE (MrRunner, mr_runner, MR, RUNNER, GObject)

/**
 * MrTransitionFunc:
 * @runner: the runner
 * @sandbox_id: the sandbox whose transition completes
 * @user_data: data given to mr_runner_run_transition()
 *
 * Completes a lifecycle transition (e.g. sets a sandbox from starting to started).
 */
typedef void (*MrTransitionFunc) (MrRunner *runner, const char *sandbox_id, gpointer user_data);

MrRunner   *mr_runner_new (void);
MrRunner   *mr_runner_new_with_config (const MrConfig *config);

guint16     mr_runner_start (MrRunner *self, GError **error);
void        mr_runner_stop (MrRunner *self);
gboolean    mr_runner_is_running (MrRunner *self);
void        mr_runner_reset (MrRunner *self);

const MrConfig *mr_runner_get_config (MrRunner *self);
gboolean    mr_runner_configure (MrRunner *self, const char *name, const char *value, GError **error);
const char *mr_runner_get_option (MrRunner *self, const char *name);
gboolean    mr_runner_get_option_bool (MrRunner *self, const char *name, gboolean default_value);
gint64      mr_runner_get_option_int (MrRunner *self, const char *name, gint64 default_value);
void        mr_runner_set_option (MrRunner *self, const char *name, const char *value);

const char *mr_runner_get_url (MrRunner *self);
const char *mr_runner_get_token (MrRunner *self);
guint16     mr_runner_get_port (MrRunner *self);
const char *mr_runner_get_version (MrRunner *self);
GMainContext *mr_runner_get_main_context (MrRunner *self);
char       *mr_runner_get_state_dir (MrRunner *self);

MrSandboxBackend *mr_runner_get_sandbox_backend (MrRunner *self);
MrImageBackend   *mr_runner_get_image_backend (MrRunner *self);
MrToolboxBackend *mr_runner_get_toolbox_backend (MrRunner *self);
MrSshBackend     *mr_runner_get_ssh_backend (MrRunner *self);

guint32     mr_runner_random_int (MrRunner *self);
char       *mr_runner_random_hex (MrRunner *self, guint n_bytes);
char       *mr_runner_random_uuid (MrRunner *self);

void        mr_runner_run_transition (MrRunner *self, const char *sandbox_id, MrSandboxState target,
                                      MrTransitionFunc func, gpointer user_data, GDestroyNotify destroy);
void        mr_runner_notify_sandbox_state (MrRunner *self, const char *sandbox_id,
                                            MrSandboxState old_state, MrSandboxState new_state);
void        mr_runner_notify_image (MrRunner *self, const char *ref, gboolean added);

/* Test controls; the journal, fault rules and timing have their own headers
 * (mr-journal.h, mr-faults.h, mr-timing.h). */
void        mr_runner_set_seed (MrRunner *self, gint64 seed);
gint64      mr_runner_get_seed (MrRunner *self);
double      mr_runner_random_double (MrRunner *self);
char       *mr_runner_export_state (MrRunner *self);
gboolean    mr_runner_import_state (MrRunner *self, const char *json, GError **error);

G_END_DECLS
