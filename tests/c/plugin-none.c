/* A shared module that is not a mock-runner plugin. */
#include <gmodule.h>

G_MODULE_EXPORT int not_a_plugin = 1;
