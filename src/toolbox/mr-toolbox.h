/* mr-toolbox.h: the Daytona toolbox (daemon) API, implemented in-process.
 *
 * One implementation serves both ways: the toolbox-local plugin hands it the runner's
 * /sandboxes/{id}/toolbox/... requests, and mock-runner-toolboxd serves it on its own
 * SoupServer (port 2280 inside a container). */
#pragma once

#include <libsoup/soup.h>

#include "mr-toolbox-backend.h"

G_BEGIN_DECLS

#define MR_TYPE_TOOLBOX (mr_toolbox_get_type ())
G_DECLARE_FINAL_TYPE (MrToolbox, mr_toolbox, MR, TOOLBOX, GObject)

/**
 * MrToolboxRandomFunc:
 * @user_data: data given to mr_toolbox_set_random_func()
 *
 * Returns: the next 32 random bits
 */
typedef guint32 (*MrToolboxRandomFunc) (gpointer user_data);

MrToolbox  *mr_toolbox_new (const char *work_dir, const char *home_dir, GError **error);
void        mr_toolbox_set_random_func (MrToolbox *self, MrToolboxRandomFunc func,
                                        gpointer user_data, GDestroyNotify destroy);
const char *mr_toolbox_get_work_dir (MrToolbox *self);
const char *mr_toolbox_get_home_dir (MrToolbox *self);
const char *mr_toolbox_get_version (MrToolbox *self);
void        mr_toolbox_handle_headers (MrToolbox *self, MrToolboxRequest *request);
void        mr_toolbox_handle_body (MrToolbox *self, MrToolboxRequest *request);
void        mr_toolbox_serve (MrToolbox *self, SoupServer *server);
void        mr_toolbox_reset (MrToolbox *self);
void        mr_toolbox_shutdown (MrToolbox *self);

G_END_DECLS
