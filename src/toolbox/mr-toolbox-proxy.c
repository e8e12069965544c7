/* mr-toolbox-proxy.c: toolbox routes of the proxy area (to be implemented). */
#include "mr-toolbox-private.h"

void
mr_tb_register_proxy (MrRouter *router)
{
}
