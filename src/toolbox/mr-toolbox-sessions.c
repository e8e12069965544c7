/* mr-toolbox-sessions.c: toolbox routes of the sessions area (to be implemented). */
#include "mr-toolbox-private.h"

void
mr_tb_register_sessions (MrRouter *router)
{
}
