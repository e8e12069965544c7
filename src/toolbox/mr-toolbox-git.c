/* mr-toolbox-git.c: toolbox routes of the git area (to be implemented). */
#include "mr-toolbox-private.h"

void
mr_tb_register_git (MrRouter *router)
{
}
