/* mr-sdk-version.h: the SDK-version gates of toolbox-api.md section 1.3. The version
 * comes from X-Daytona-SDK-Version (or the WebSocket subprotocol); it is compared as
 * semver ("1.2.3foo" reads as "1.2.3-foo"), and a version that does not parse counts as
 * newer than any other. Any version containing "dev" counts as new for every gate. */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

int      mr_sdk_version_compare (const char *version, const char *other);
gboolean mr_sdk_version_is_older (const char *version, const char *threshold);

/* Session logs and exec output without the \x01\x01\x01 / \x02\x02\x02 markers */
gboolean mr_sdk_gate_combined_output (const char *version, const char *split_output_header);
/* Text logs and no server-side stdout/stderr in exec replies ([latest] JSON otherwise) */
gboolean mr_sdk_gate_skip_server_demux (const char *version);
gboolean mr_sdk_gate_json_logs (const char *version);
/* A new session's shell starts in $HOME instead of the work directory */
gboolean mr_sdk_gate_legacy_session_cwd (const char *version);

G_END_DECLS
