/* mr-docker-bundle.h: mock-runner-toolboxd packed to run in an image that lacks our
 * libraries: the program, every shared library it loads (its ldd closure, the C
 * library and the dynamic loader included) and a start script, as one tar archive for
 * the Engine API's archive endpoint. */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

typedef struct {
  GBytes *archive;       /* extract at "/" */
  char *dir;             /* where it lands, e.g. /opt/mock-runner-toolbox/3f2a9c0e1b7d */
  char *start_script;    /* <dir>/start.sh: (re)starts the daemon on port 2280 */
  char *log_file;        /* where the daemon's output goes inside the container */
  guint n_libraries;
} MrDockerBundle;

char          *mr_docker_bundle_find_daemon (const char *configured);
gboolean       mr_docker_bundle_parse_ldd (const char *output, GPtrArray *names, GPtrArray *paths,
                                           char **loader, GError **error);
MrDockerBundle *mr_docker_bundle_new (const char *daemon_path, const char *root, GError **error);
void           mr_docker_bundle_free (MrDockerBundle *bundle);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (MrDockerBundle, mr_docker_bundle_free)

G_END_DECLS
