/* mr-toolbox-pty.c: toolbox routes of the pty area (to be implemented). */
#include "mr-toolbox-private.h"

void
mr_tb_register_pty (MrRouter *router)
{
}
