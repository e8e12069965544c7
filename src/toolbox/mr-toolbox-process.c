/* mr-toolbox-process.c: toolbox routes of the process area (to be implemented). */
#include "mr-toolbox-private.h"

void
mr_tb_register_process (MrRouter *router)
{
}
