/* mr-types.h: forward declarations shared by the public headers. */
#pragma once

#include <glib-object.h>

G_BEGIN_DECLS

typedef struct _MrRunner MrRunner;
typedef struct _MrConfig MrConfig;

G_END_DECLS
