/* mr-toolbox-interpreter.c: toolbox routes of the interpreter area (to be implemented). */
#include "mr-toolbox-private.h"

void
mr_tb_register_interpreter (MrRouter *router)
{
}
