/* mr-toolbox-ports.c: toolbox routes of the ports area (to be implemented). */
#include "mr-toolbox-private.h"

void
mr_tb_register_ports (MrRouter *router)
{
}
