/* A module whose type does not implement the interface of the kind it declares. */
#include "mock-runner.h"

static GType
object_type (void)
{
  return G_TYPE_OBJECT;
}

MR_PLUGIN_DEFINE ("wrong-type", MR_PLUGIN_KIND_IMAGE, "declares image, is a GObject", object_type, NULL);
