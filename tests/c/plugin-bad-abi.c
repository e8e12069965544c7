/* A module that claims another plugin ABI: the loader must refuse it before calling it. */
#include "mock-runner.h"

static GType
never_called (void)
{
  g_error ("the loader called into a module with the wrong ABI");
  return G_TYPE_INVALID;
}

G_MODULE_EXPORT const MrPluginDescriptor mr_plugin_descriptor = {
  MR_PLUGIN_ABI_VERSION + 41, "bad-abi", MR_PLUGIN_KIND_SANDBOX, "wrong ABI", never_called, NULL
};
