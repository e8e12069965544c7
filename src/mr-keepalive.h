/* mr-keepalive.h: closes kept-alive connections that their client closed while idle. */
#pragma once

#include <libsoup/soup.h>

G_BEGIN_DECLS

void mr_keepalive_watch (SoupServer *server);

G_END_DECLS
